"""Stage `robustness`: clean vs attacked retrieval for xDR and xDR+xQG, per language and family.

  python -m launch.robustness --config=tiny --workdir=/tmp/xqg

Writes `workdir/robustness/{split}/` and `workdir/reports/robustness/robustness.md|json` + plots.
"""

from launch import run_to_stage

if __name__ == '__main__':
  run_to_stage.run('robustness')
