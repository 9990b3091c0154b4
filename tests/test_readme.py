"""CI runs exactly the README's test command."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
  blocks = re.findall(r'```bash\n(.*?)\n```', (ROOT / 'README.md').read_text(), re.S)
  test_command = next(b for b in blocks if 'pytest' in b)
  ci_lines = (ROOT / '.ci/run').read_text().splitlines()
  assert test_command in ci_lines
  assert 'launch.pipeline --config=tiny' in blocks[0]
