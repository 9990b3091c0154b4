"""The whole pipeline, offline: `python -m launch.pipeline --config=tiny --workdir=/tmp/xqg`.

Runs every stage that exists so far in order (each skips work its manifest proves done) and
prints the results: per-stage time, the benchmark statistics and the retrieval results.
"""

import json

from absl import app
from absl import flags
from etils import epath

from launch import stages
from xqg_jax.configs import flags as config_flags
from xqg_jax.data import prepare
from xqg_jax.data.synthetic import stats as stats_lib
from xqg_jax.eval import report

_CONFIG = config_flags.define_config_flag()
_WORKDIR = config_flags.define_workdir_flag()
_UNTIL = flags.DEFINE_enum('until', None, stages.names(), 'Stop after this stage.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  state = stages.run(_CONFIG.value, _WORKDIR.value, until=_UNTIL.value)
  print('| stage | seconds |\n|---|---|')
  for name, seconds in state['timings'].items():
    print(f'| {name} | {seconds:.1f} |')
  stats_file = epath.Path(state['data_dir']) / prepare.STATS_NAME
  if stats_file.exists():
    print()
    print(stats_lib.markdown(json.loads(stats_file.read_text())))
  if 'generated_quality' in state:
    print('Generated questions (share of letters in the language\'s script; share naming the '
          'passage\'s entity; share answerable from the passage):\n')
    print('| lang | questions | own script | names entity | answerable |\n|---|---|---|---|---|')
    for lang, q in state['generated_quality'].items():
      print(f'| {lang} | {q["questions"]} | {q["own_script_letter_share"]:.3f} | '
            f'{q["names_entity"]:.3f} | {q["answerable"]:.3f} |')
    print()
  for split in ('dev', 'test'):
    systems = {name: by_split[split] for name, by_split in state.get('results', {}).items()
               if split in by_split}
    if systems:
      print(f'XOR-Retrieve on {split} (exact search):\n')
      print(report.results_table(systems))


if __name__ == '__main__':
  app.run(main)
