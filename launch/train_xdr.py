"""Stage `train_xdr`: contrastive training of the xDR bi-encoder.

  python -m launch.train_xdr --config=tiny --workdir=/tmp/xqg
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('train_xdr')
