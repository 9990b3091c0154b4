"""Every absl entry point imports on its own: no flag is defined twice, nothing is missing."""

import pathlib
import subprocess
import sys

import pytest

_LAUNCH = pathlib.Path(__file__).parent.parent / 'launch'
_MAINS = sorted(p.stem for p in _LAUNCH.glob('*.py')
                if p.stem not in ('__init__', 'stages', 'run_to_stage'))


def test_every_stage_has_a_main():
  from launch import stages  # pylint: disable=g-import-not-at-top
  mains = set(_MAINS)
  main_of = {'select': 'select_settings'}  # `launch.select` would read as the stdlib module.
  for name in stages.names():
    assert (main_of.get(name, name) in mains
            or name in ('data', 'tokenizers', 'datasets', 'sweep', 'report')), name


@pytest.mark.parametrize('main', _MAINS)
def test_main_imports(main):
  result = subprocess.run([sys.executable, '-c', f'import launch.{main}'], cwd=_LAUNCH.parent,
                          capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
