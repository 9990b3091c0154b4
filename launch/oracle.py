"""Stage `oracle`: the synthetic benchmark's question writer in place of the generator.

  python -m launch.oracle --config=tiny --workdir=/tmp/xqg

Writes `workdir/oracle/generated-*.jsonl` in the generate stage's layout: n fresh questions
per language for every passage, never an evaluation query (the ceiling of augmentation).
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('oracle')
