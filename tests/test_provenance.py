"""Provenance of results: commit, dirty flag, CPU, devices, date; README rows say their age."""

import datetime
import subprocess

from launch import readme_results
from xqg_jax.io import provenance


def _git_head():
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=provenance.REPO, check=True,
                          capture_output=True, text=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return None


def test_provenance_names_commit_machine_devices_and_date():
  record = provenance.provenance()
  assert record['commit'] == _git_head()
  assert isinstance(record['dirty'], bool) or record['commit'] is None
  assert record['cpu']['model'] and set(record['cpu']['isa']) == set(provenance.ISA_FLAGS)
  assert record['cores'] >= 1
  assert record['devices']['backend'] == 'cpu' and record['devices']['count'] >= 1
  date = datetime.datetime.fromisoformat(record['date'])
  assert abs((datetime.datetime.now(datetime.timezone.utc) - date).total_seconds()) < 60
  line = provenance.describe(record)
  assert record['cpu']['model'] in line and 'cores' in line and 'commit' in line


def test_readme_rows_say_when_they_come_from_other_code():
  head = 'a' * 40
  assert readme_results.code_age({'commit': head, 'dirty': False}, head) == 'this commit'
  assert readme_results.code_age({'commit': head, 'dirty': True}, head) == (
      'this commit with uncommitted changes')
  assert readme_results.code_age({'commit': 'b' * 40, 'dirty': False}, head) == (
      'older commit bbbbbbbbbbbb')
  assert readme_results.code_age({'cpu_model': 'x'}, head) == 'commit not recorded (older code)'
  assert readme_results.code_age(None, head) == 'commit not recorded (older code)'
