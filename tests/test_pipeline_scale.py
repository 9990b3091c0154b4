"""The full pipeline at two corpus sizes: growth, its table, and which finished runs may be reused."""

import pathlib
import subprocess
import sys

import pytest

from benchmarks import pipeline_scale
from benchmarks import scale_report
from launch import stages

_MACHINE = {'commit': 'a' * 40, 'dirty': False, 'cpu_model': 'Some CPU'}


def _run(name, passages, seconds, peak, other=0.0):
  return {'name': name, 'passages': passages, 'other_processes_cores': other,
          'stages': dict(seconds), 'peak_rss_bytes': dict(peak)}


def test_growth_table_and_plot_flag_a_stage_outgrowing_the_passages(tmp_path):
  small = _run('2k', 2000, {'train': 100.0, 'encode': 10.0, 'search': 5.0},
               {'train': 1.5e9, 'encode': 1.0e9, 'search': 0.5e9})
  large = _run('20k', 20000, {'train': 101.0, 'encode': 95.0, 'search': 80.0},
               {'train': 1.6e9, 'encode': 1.1e9, 'search': 0.6e9}, other=0.9)
  growth = scale_report.pipeline_growth([small, large])
  assert growth['passages_ratio'] == 10
  assert growth['stages']['encode'] == {'time_ratio': 9.5, 'superlinear': False}
  assert growth['stages']['search'] == {'time_ratio': 16.0, 'superlinear': True}
  assert growth['peak_rss_ratio'] == pytest.approx(1.6 / 1.5)
  table = scale_report.pipeline_markdown({'runs': [small, large], 'growth': growth})
  assert '| search | 5 | 80 | 16.0 (SUPER-LINEAR) | 0.50 | 0.60 |' in table
  assert '| encode | 10 | 95 | 9.5 | 1.00 | 1.10 |' in table
  assert '| total | 115 | 276 | 2.4 | 1.50 | 1.60 |' in table
  assert 'UNRELIABLE (other processes were busy): 20k' in table
  pipeline_scale.plot({'runs': [small, large]}, str(tmp_path / 'scale.png'))
  assert (tmp_path / 'scale.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def _timings(**provenance):
  return {'stages': dict.fromkeys(stages.names(), 1.0),
          'provenance': {'commit': _MACHINE['commit'], 'dirty': False,
                         'cpu': {'model': 'Some CPU'}, **provenance}}


@pytest.mark.parametrize('timings, message', [
    ({**_timings(), 'stages': {'data': 1.0}}, r'its timings lack stages \[.tokenizers.'),
    (_timings(commit='b' * 40), 'ran on commit b+ .*both must be the same commit'),
    (_timings(dirty=True), r'ran on commit a+ \(dirty: True\)'),
    (_timings(cpu={'model': 'Other CPU'}), 'ran on Other CPU, this machine is Some CPU'),
])
def test_a_run_of_other_code_or_a_partial_run_is_not_reused(tmp_path, timings, message):
  with pytest.raises(ValueError, match=f'--reuse=2k={tmp_path}: ' + message):
    pipeline_scale._check_reusable('2k', str(tmp_path), 'tiny', timings, _MACHINE)


def test_a_run_whose_stage_records_are_missing_is_not_reused(tmp_path):
  with pytest.raises(FileNotFoundError, match="stage 'data' has not run"):
    pipeline_scale._check_reusable('2k', str(tmp_path), 'tiny', _timings(), _MACHINE)


def test_the_command_refuses_a_reuse_of_an_unknown_run(tmp_path):
  done = subprocess.run(
      [sys.executable, '-m', 'benchmarks.pipeline_scale', '--runs=a=tiny',
       f'--reuse=b={tmp_path}', f'--root={tmp_path}/runs'],
      cwd=pathlib.Path(__file__).resolve().parents[1], capture_output=True, text=True,
      timeout=120, check=False)
  assert done.returncode != 0
  assert "--reuse names runs ['b'] that --runs does not have" in done.stderr
  assert not (tmp_path / 'runs').exists()


def test_the_corpus_size_is_what_the_datasets_stage_built(tmp_path):
  from xqg_jax.io import manifest  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='no datasets record'):
    pipeline_scale._passages(str(tmp_path))
  manifest.write(tmp_path / 'tfds', stage='datasets', config={}, inputs={}, outputs=[],
                 extra={'examples': {'xor_corpus': {'corpus': 18_003_200},
                                     'xor_queries': {'dev': 7}}})
  assert pipeline_scale._passages(str(tmp_path)) == 18_003_200
