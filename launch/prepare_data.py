"""Stage `datasets`: the data directory, tokenizers and TFDS datasets.

  python -m launch.prepare_data --config=tiny --workdir=/tmp/xqg
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('datasets')
