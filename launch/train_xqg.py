"""Stage `train_xqg`: fine-tuning the mT5 query generator on the training pairs.

  python -m launch.train_xqg --config=tiny --workdir=/tmp/xqg
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('train_xqg')
