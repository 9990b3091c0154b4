"""Stage `prepare_data`: the data directory, tokenizers and TFDS datasets.

  python -m launch.prepare_data --config=tiny --workdir=/tmp/xqg
"""

from absl import app
from absl import logging

from launch import stages
from xqg_jax.configs import flags as config_flags

_CONFIG = config_flags.define_config_flag()
_WORKDIR = config_flags.define_workdir_flag()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  state = stages.run(_CONFIG.value, _WORKDIR.value, until='datasets')
  logging.info('data: %s', state)


if __name__ == '__main__':
  app.run(main)
