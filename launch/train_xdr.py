"""Stage `train_xdr`: contrastive training of the xDR bi-encoder.

  python -m launch.train_xdr --config=tiny --workdir=/tmp/xqg
"""

from launch import stage_main

if __name__ == '__main__':
  stage_main.run('train_xdr')
