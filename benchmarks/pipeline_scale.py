r"""The whole pipeline's stage times and peak RSS as the corpus grows (README command (a) and 10x).

Each run is `python -m launch.pipeline --config=CONFIG --workdir=ROOT/NAME` in a child
process, one after another on this machine; its stage seconds and per-stage peak RSS are the
ones the pipeline records (`reports/timings.json`). `--reuse=NAME=DIR` takes a finished run
instead of running it again (README command (a)'s work dir): its timings must cover every
stage, come from this commit with no uncommitted changes and from this CPU, and every stage
record in DIR must be current for the run's config (`stage_graph.verify`).

`scale_report.pipeline_markdown` renders the table (README "Scale"): per stage the seconds and
peak RSS of each run and the growth from the first run to the last, flagging a stage whose
time grows more than `scale_report.SUPERLINEAR_FACTOR` times faster than the passages.
Training stages are fixed work (a set number of steps), so they should not grow at all.

Usage:
  nice python -m benchmarks.pipeline_scale --reuse=2k=workdir/tiny \
      --output=benchmarks/results_pipeline_scale_cpu.json --plot=benchmarks/pipeline_scale.png
"""

import json
import os
import sys

from absl import app
from absl import flags

if __package__ in (None, ''):  # Run as a file: make the `benchmarks` package importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import blas_env  # pylint: disable=g-import-not-at-top
from benchmarks import child_process  # pylint: disable=g-import-not-at-top
from benchmarks import common  # pylint: disable=g-import-not-at-top
from benchmarks import log_log_plot  # pylint: disable=g-import-not-at-top
from benchmarks import scale_report  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _define_flags() -> dict:
  """The command's flags (defined when run as a program, so that importing this module beside
  another benchmark, as the tests do, defines none)."""
  return {
      'runs': flags.DEFINE_list('runs', ['2k=tiny', '20k=tiny:entities=10000,shards=20'],
                                'NAME=CONFIG pairs, smallest corpus first (the tiny config has '
                                '1000 entities, 2 passages each, in 2 shards).'),
      'reuse': flags.DEFINE_list('reuse', [], 'NAME=DIR: the finished work dir of run NAME.'),
      'root': flags.DEFINE_string('root', '/tmp/pipeline_scale',
                                  'Parent of the work dirs of the runs not reused (ROOT/NAME '
                                  'must not exist: a resumed run would time only what was '
                                  'left).'),
      'output': flags.DEFINE_string('output', '', 'JSON output path; empty prints the JSON.'),
      'plot': flags.DEFINE_string('plot', '', 'PNG path of the log-log plot; empty: none.'),
  }


def _pairs(values: list[str], flag: str) -> dict[str, str]:
  out = {}
  for value in values:
    name, sep, rest = value.partition('=')
    if not sep or not name or not rest:
      raise app.UsageError(f'--{flag}={value!r}: expected NAME=VALUE')
    out[name] = rest
  return out


def _run_pipeline(config_spec: str, workdir: str) -> dict:
  """Runs the pipeline in a child process in the new `workdir`: wall seconds and the cores
  other processes kept busy meanwhile."""
  if os.path.exists(workdir):
    raise FileExistsError(f'{workdir} exists: give a new --root, or remove it (a resumed run '
                          'would time only the stages left)')
  os.makedirs(workdir)
  return child_process.command(
      [sys.executable, '-m', 'launch.pipeline', f'--config={config_spec}',
       f'--workdir={workdir}'], cwd=REPO, log_path=os.path.join(workdir, 'pipeline.log'))


def _check_reusable(name: str, workdir: str, config_spec: str, timings: dict, machine: dict):
  """Raises unless `workdir` is a finished, current run of `config_spec` on this code and CPU."""
  from launch import stages  # pylint: disable=g-import-not-at-top
  from xqg_jax.configs import flags as config_flags  # pylint: disable=g-import-not-at-top
  from xqg_jax.io import stage_graph  # pylint: disable=g-import-not-at-top
  record, where = timings.get('provenance') or {}, f'--reuse={name}={workdir}'
  missing = [stage for stage in stages.names() if stage not in timings['stages']]
  if missing:
    raise ValueError(f'{where}: its timings lack stages {missing} (a resumed or partial run)')
  if record.get('commit') != machine['commit'] or record.get('dirty') or machine['dirty']:
    raise ValueError(f'{where}: ran on commit {record.get("commit")} (dirty: '
                     f'{record.get("dirty")}), this is {machine["commit"]} (dirty: '
                     f'{machine["dirty"]}); both must be the same commit, committed')
  if (record.get('cpu') or {}).get('model') != machine['cpu_model']:
    raise ValueError(f'{where}: ran on {(record.get("cpu") or {}).get("model")}, this machine '
                     f'is {machine["cpu_model"]}')
  stage_graph.verify(stages.STAGES, config_flags.load(config_spec), workdir)


def _passages(workdir: str) -> int:
  """The corpus size of a finished run (synthetic or released files alike)."""
  from xqg_jax.data import prepare  # pylint: disable=g-import-not-at-top
  return prepare.corpus_size(workdir)


def run(runs: dict[str, str], reuse: dict[str, str], root: str) -> dict:
  """Every run's stage seconds, peak RSS and corpus size, and their growth."""
  from xqg_jax.eval import retrieval_report  # pylint: disable=g-import-not-at-top
  unknown = sorted(set(reuse) - set(runs))
  if unknown:
    raise app.UsageError(f'--reuse names runs {unknown} that --runs does not have')
  machine, out = common.machine_info(), []

  def timings_of(workdir: str) -> dict:
    with open(os.path.join(workdir, 'reports', retrieval_report.TIMINGS_NAME)) as f:
      return json.load(f)
  for name, workdir in reuse.items():  # Checked before any run: a bad reuse fails at once.
    _check_reusable(name, workdir, runs[name], timings_of(workdir), machine)
  for name, spec in runs.items():
    workdir = reuse.get(name) or os.path.join(root, name)
    measured = {'wall_s': None, 'other_processes_cores': None}
    if name not in reuse:
      print(f'{name}: running --config={spec} in {workdir}', flush=True)
      measured = _run_pipeline(spec, workdir)
    timings = timings_of(workdir)
    out.append({'name': name, 'config': spec, 'workdir': workdir, 'reused': name in reuse,
                'passages': _passages(workdir), **measured, 'stages': timings['stages'],
                'peak_rss_bytes': timings['peak_rss_bytes'], 'provenance': timings['provenance']})
    print(f'{name}: {out[-1]["passages"]:,} passages, {sum(timings["stages"].values()):.0f} s '
          'of stages', flush=True)
  return {'benchmark': 'pipeline_scale', 'machine': machine, 'runs': out,
          'growth': scale_report.pipeline_growth(out)}


def plot(result: dict, path: str) -> None:
  """Log-log: milliseconds per passage and peak RSS per stage against the corpus size."""
  x = [run['passages'] for run in result['runs']]
  # matplotlib cycles 10 colours: the stages after the tenth get dashed lines and squares.
  panels = [(title, [(stage, x, [value(run, stage) for run in result['runs']],
                      'o-' if i < 10 else 's--')
                     for i, stage in enumerate(result['runs'][0]['stages'])])
            for title, value in (
                ('stage milliseconds per passage',
                 lambda run, stage: 1e3 * run['stages'][stage] / run['passages']),
                ('peak RSS during the stage (GB)',
                 lambda run, stage: run['peak_rss_bytes'][stage] / 1e9))]
  log_log_plot.save(path, panels, 'passages')


def main(argv, flag_values: dict) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  result = run(_pairs(flag_values['runs'].value, 'runs'),
               _pairs(flag_values['reuse'].value, 'reuse'), flag_values['root'].value)
  print(scale_report.pipeline_markdown(result))
  common.write_json(result, flag_values['output'].value)
  if flag_values['plot'].value:
    plot(result, flag_values['plot'].value)


if __name__ == '__main__':
  blas_env.reexec_without_overrides()
  _FLAGS = _define_flags()
  app.run(lambda argv: main(argv, _FLAGS))
