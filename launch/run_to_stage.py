"""The absl main shared by the per-stage entry points: run the pipeline up to one stage.

Earlier stages run first when their outputs are missing and are skipped (manifest verified)
when present, so `python -m launch.encode --config=tiny --workdir=W` works on a fresh W.
"""

from absl import app
from absl import logging

from launch import stages
from xqg_jax.configs import flags as config_flags
from xqg_jax.io import console
from xqg_jax.parallel import multihost

_CONFIG = config_flags.define_config_flag()
_WORKDIR = config_flags.define_workdir_flag()


def run(stage: str) -> None:
  """Parses flags and runs the pipeline until `stage` (inclusive)."""

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    console.quiet_libraries()
    multihost.initialize(_CONFIG.value.distributed)
    state = stages.run(_CONFIG.value, _WORKDIR.value, until=stage)
    logging.info('%s done: %s', stage, {k: v for k, v in state.items() if k != 'timings'})

  app.run(main)
