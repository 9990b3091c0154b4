"""Stage `attack`: the attacked query sets of `robustness.split`, one per configured attack.

  python -m launch.attack --config=tiny --workdir=/tmp/xqg --config.robustness.char_noise.budget=3

Writes `workdir/attacks/{attack}/{split}.jsonl`.
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('attack')
