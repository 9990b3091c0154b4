"""Stage `index`: a ScaNN index (one per shard) of a finished embedding directory.

  python -m launch.index --config=tiny --workdir=/tmp/xqg \
      --embeddings=/tmp/xqg/embeddings/corpus --name=corpus

writes `<workdir>/index/<name>/`; with `--config.index.kind=exact` there is nothing to build
(the embedding directory is searched as it is).
"""

from absl import app
from absl import flags
from absl import logging
from etils import epath

from xqg_jax.configs import flags as config_flags
from xqg_jax.index import index_stage
from xqg_jax.io import console
from xqg_jax.io import stage_dir
from xqg_jax.parallel import multihost

_CONFIG = config_flags.define_config_flag()
_WORKDIR = config_flags.define_workdir_flag()
_EMBEDDINGS = flags.DEFINE_string('embeddings', None, 'A finished embedding directory.',
                                  required=True)
_NAME = flags.DEFINE_string('name', None, 'Output name under <workdir>/index/.', required=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  console.quiet_libraries()
  multihost.initialize(config.distributed)
  embeddings = epath.Path(_EMBEDDINGS.value)
  out = index_stage.build(config, epath.Path(_WORKDIR.value) / 'index' / _NAME.value,
                          embeddings, inputs={'embeddings': stage_dir.digest(embeddings)})
  logging.info('index (%s) ready: %s', config.index.kind, out)


if __name__ == '__main__':
  app.run(main)
