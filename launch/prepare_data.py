"""Stage `datasets`: the data directory, tokenizers and TFDS datasets.

  python -m launch.prepare_data --config=tiny --workdir=/tmp/xqg
"""

from launch import stage_main

if __name__ == '__main__':
  stage_main.run('datasets')
