"""Stage `generate`: n questions per language for every passage (augmented-corpus layout).

  python -m launch.generate --config=tiny --workdir=/tmp/xqg
"""

from launch import stage_main

if __name__ == '__main__':
  stage_main.run('generate')
