"""Stage `select`: alpha, fusion and n chosen on dev only, per question source.

  python -m launch.select_settings --config=tiny --workdir=/tmp/xqg

Ranks every setting of `augment.fusions` x `eval.sweep_alphas` x `eval.sweep_num_queries` by
exact search over the dev queries and writes `workdir/select/selection.json` (the grid and the
choices); the test queries are not read.
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('select')
