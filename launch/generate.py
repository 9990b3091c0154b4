"""Stage `generate`: n questions per language for every passage (augmented-corpus layout).

  python -m launch.generate --config=tiny --workdir=/tmp/xqg
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('generate')
