"""The scale curve's table and growth check (`scale_curve.py` JSON -> markdown), flag-free so
that the README generator can render it too."""

from typing import Any

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
