"""The scale tables and growth checks (`scale_curve.py` and `pipeline_scale.py` JSON ->
markdown), flag-free so that the README generator can render them too."""

from typing import Any

from benchmarks import common

STEPS = ('encode', 'fuse', 'index', 'search')
# Cost per passage growing by more than this from the smallest to the largest corpus is flagged.
SUPERLINEAR_FACTOR = 1.5


def growth(sizes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """Per step: cost per passage at the largest corpus / at the smallest one measured (flagged
  when above `SUPERLINEAR_FACTOR`), and the peak RSS at the largest corpus / at the smallest
  one with full shards (a corpus smaller than one shard holds less)."""
  out = {}
  for step in STEPS:
    have = [s for s in sizes if step in s['steps']]
    if len(have) < 2:
      continue
    ratio = (have[-1]['steps'][step]['us_per_passage']
             / have[0]['steps'][step]['us_per_passage'])
    out[step] = {'from_passages': have[0]['passages'], 'to_passages': have[-1]['passages'],
                 'cost_per_passage_ratio': ratio, 'superlinear': ratio > SUPERLINEAR_FACTOR}
    full = [s for s in have if s['passages'] >= s['shard_passages']]
    if len(full) >= 2:
      out[step].update(memory_from_passages=full[0]['passages'],
                       peak_rss_ratio=(full[-1]['steps'][step]['peak_rss_bytes']
                                       / full[0]['steps'][step]['peak_rss_bytes']))
  return out


def markdown(result: dict[str, Any]) -> str:
  """Seconds, microseconds per passage and peak RSS per step and corpus size, then the growth
  of each step (search is also given per query: every query searches every shard)."""
  head = ['passages', 'shards'] + [f'{step} s (us/passage)' for step in STEPS] + [
      'search ms/query', 'peak RSS GB (largest step)', 'one shard GB']
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for size in result['sizes']:
    cells = [f'{size["passages"]:,}', str(size['num_shards'])]
    for step in STEPS:
      row = size['steps'].get(step)
      cells.append(f'{row["wall_s"]:.1f} ({row["us_per_passage"]:.0f})' if row
                   else 'random embeddings')
    peak = max(r['peak_rss_bytes'] for r in size['steps'].values())
    cells += [f'{size["steps"]["search"]["ms_per_query"]:.2f}', f'{peak / 1e9:.2f}',
              f'{size["shard_bytes"] / 1e9:.2f}']
    lines.append('| ' + ' | '.join(cells) + ' |')
  lines.append('')
  for step, g in growth(result['sizes']).items():
    memory = (f'; peak RSS x{g["peak_rss_ratio"]:.2f} from {g["memory_from_passages"]:,}'
              if 'peak_rss_ratio' in g else '')
    lines.append(f'- {step}: cost per passage x{g["cost_per_passage_ratio"]:.2f} from '
                 f'{g["from_passages"]:,} to {g["to_passages"]:,} passages{memory}'
                 + (' (SUPER-LINEAR)' if g['superlinear'] else ''))
  contended = [f'{size["passages"]:,}/{step}' for size in result['sizes']
               for step, row in size['steps'].items() if row['contended']]
  if contended:
    lines.append(f'- UNRELIABLE (other processes were busy): {", ".join(contended)}')
  return '\n'.join(lines)


def pipeline_growth(runs: list[dict[str, Any]]) -> dict[str, Any]:
  """From the first run to the last (`pipeline_scale.py`): the passages' growth, each stage's
  time growth (flagged when it outgrows the passages by more than `SUPERLINEAR_FACTOR`) and
  the growth of the run's peak RSS."""
  first, last = runs[0], runs[-1]
  passages = last['passages'] / first['passages']
  stages = {}
  for stage, seconds in first['stages'].items():
    ratio = last['stages'][stage] / seconds
    stages[stage] = {'time_ratio': ratio, 'superlinear': ratio > passages * SUPERLINEAR_FACTOR}
  return {'passages_ratio': passages, 'stages': stages,
          'peak_rss_ratio': (max(last['peak_rss_bytes'].values())
                             / max(first['peak_rss_bytes'].values()))}


def pipeline_markdown(result: dict[str, Any]) -> str:
  """Per stage: each run's seconds and peak RSS, and the growth from the first run to the last."""
  runs, growth = result['runs'], result['growth']
  names = [f'{run["name"]} ({run["passages"]:,} passages)' for run in runs]
  head = (['stage'] + [f'{n} s' for n in names] + ['time x']
          + [f'{n} peak GB' for n in names])
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for stage, g in growth['stages'].items():
    cells = ([stage] + [f'{run["stages"][stage]:.0f}' for run in runs]
             + [f'{g["time_ratio"]:.1f}' + (' (SUPER-LINEAR)' if g['superlinear'] else '')]
             + [f'{run["peak_rss_bytes"][stage] / 1e9:.2f}' for run in runs])
    lines.append('| ' + ' | '.join(cells) + ' |')
  totals = [sum(run['stages'].values()) for run in runs]
  lines.append('| ' + ' | '.join(
      ['total'] + [f'{t:.0f}' for t in totals] + [f'{totals[-1] / totals[0]:.1f}']
      + [f'{max(run["peak_rss_bytes"].values()) / 1e9:.2f}' for run in runs]) + ' |')
  lines += ['', f'- passages x{growth["passages_ratio"]:.0f}; the run\'s peak RSS '
                f'x{growth["peak_rss_ratio"]:.2f}']
  contended = [run['name'] for run in runs
               if (run.get('other_processes_cores') or 0.0) > common.CONTENDED_CORES]
  if contended:
    lines.append(f'- UNRELIABLE (other processes were busy): {", ".join(contended)}')
  return '\n'.join(lines)
