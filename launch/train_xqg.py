"""Stage `train_xqg`: fine-tuning the mT5 query generator on the training pairs.

  python -m launch.train_xqg --config=tiny --workdir=/tmp/xqg
"""

from launch import stage_main

if __name__ == '__main__':
  stage_main.run('train_xqg')
