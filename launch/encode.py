"""Stage `encode`: the corpus and query splits to embedding shards.

  python -m launch.encode --config=tiny --workdir=/tmp/xqg
"""

from launch import stage_main

if __name__ == '__main__':
  stage_main.run('encode')
