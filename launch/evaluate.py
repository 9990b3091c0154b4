"""Stage `evaluate`: exact search and XOR-Retrieve R@2kt/R@5kt.

  python -m launch.evaluate --config=tiny --workdir=/tmp/xqg
"""

from launch import stage_main

if __name__ == '__main__':
  stage_main.run('evaluate')
