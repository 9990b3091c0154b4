"""Stage `robustness`: clean vs attacked retrieval for xDR and xDR+xQG, per language and family.

  python -m launch.robustness --config=tiny --workdir=/tmp/xqg

Writes `workdir/robustness/{split}/` and `workdir/reports/robustness/robustness.md|json` + plots.
"""

from launch import stage_main

if __name__ == '__main__':
  stage_main.run('robustness')
