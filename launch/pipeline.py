"""The whole pipeline, offline: `python -m launch.pipeline --config=tiny --workdir=/tmp/xqg`.

Runs the stages in order (each skips work its manifest proves done) and ends with a summary:
stage times, every system against xDR per split, and where the full reports are. Libraries'
INFO logs are off (`--verbosity=1` brings them back).
"""

import json

from absl import app
from absl import flags
from etils import epath

from launch import stages
from xqg_jax.configs import flags as config_flags
from xqg_jax.eval import retrieval_report
from xqg_jax.io import atomic
from xqg_jax.io import console
from xqg_jax.io import provenance
from xqg_jax.parallel import multihost

_CONFIG = config_flags.define_config_flag()
_WORKDIR = config_flags.define_workdir_flag()
_UNTIL = flags.DEFINE_enum('until', None, stages.names(), 'Stop after this stage.')
_FROM = flags.DEFINE_enum('from_stage', None, stages.names(),
                          'Start at this stage; earlier ones must have run (their recorded '
                          'results are used).')
_STAGES = flags.DEFINE_list('stages', None, 'Run only these stages (the others must have run).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  console.quiet_libraries()
  multihost.initialize(_CONFIG.value.distributed)
  state = stages.run(_CONFIG.value, _WORKDIR.value, until=_UNTIL.value, only=_STAGES.value,
                     from_stage=_FROM.value)
  reports = epath.Path(_WORKDIR.value) / 'reports'
  record = provenance.provenance()
  atomic.write_text(reports / retrieval_report.TIMINGS_NAME, json.dumps(
      {'stages': state['timings'], 'peak_rss_bytes': state['peak_rss_bytes'],
       'machine': provenance.describe(record),
       'provenance': record}, indent=1) + '\n')
  print(stages.summary(state))



if __name__ == '__main__':
  app.run(main)
