"""Stage `encode`: the corpus and query splits to embedding shards.

  python -m launch.encode --config=tiny --workdir=/tmp/xqg
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('encode')
