"""Stage `evaluate`: exact search and XOR-Retrieve R@2kt/R@5kt.

  python -m launch.evaluate --config=tiny --workdir=/tmp/xqg
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('evaluate')
