"""The robustness report: drops per language family and attack, xDR vs xDR+xQG, with tests.

Input: {attack name: `robustness_stage.evaluate_attack` result}. Writes `robustness.md`,
`robustness.json` and one PNG per metric (the drop per family, a bar per attack and system).
"""

import io
import json
from typing import Mapping, Sequence

from etils import epath
from matplotlib import figure as figure_lib
from matplotlib.backends import backend_agg

from xqg_jax.eval import retrieval_report as eval_report
from xqg_jax.io import atomic
from xqg_jax.io import provenance

MARKDOWN_NAME = 'robustness.md'
JSON_NAME = 'robustness.json'


def _pct(value) -> str:
  return 'n/a' if value is None else f'{100 * value:.0f}%'


def family_table(results: Mapping[str, dict], names: Mapping[str, str], metric: str) -> str:
  """Rows: (attack, family or macro); clean, attacked and drop per system; p of the drops."""
  a, b = list(names)
  header = ['attack', 'family', 'n', 'unattacked', 'edit rate',
            f'{names[a]} clean', f'{names[a]} drop', f'{names[a]} success',
            f'{names[b]} clean', f'{names[b]} drop', f'{names[b]} success',
            'drop delta (B-A)', '95% CI', 'p (perm.)']
  rows = []
  for attack, result in results.items():
    comparison = result['drop_comparison'][metric]
    groups = {**result['results'][a]['families'], 'macro': result['results'][a]['macro']}
    for group, summary_a in groups.items():
      summary_b = (result['results'][b]['macro'] if group == 'macro'
                   else result['results'][b]['families'][group])
      test = comparison['macro'] if group == 'macro' else comparison['families'][group]
      rows.append([attack, group, str(summary_a['n']), str(summary_a['unattacked']),
                   _pct(summary_a['edit_rate']),
                   f'{summary_a[metric]["clean"]:.1f}', f'{summary_a[metric]["drop"]:+.1f}',
                   _pct(summary_a['success_rate']),
                   f'{summary_b[metric]["clean"]:.1f}', f'{summary_b[metric]["drop"]:+.1f}',
                   _pct(summary_b['success_rate']), f'{test["delta"]:+.1f}',
                   eval_report.interval(metric, test),
                   eval_report.format_p(test['permutation_p'])
                   + ('*' if test['significant'] else '')])
  return eval_report.markdown_table(header, rows)


def language_table(results: Mapping[str, dict], names: Mapping[str, str], metric: str) -> str:
  """Rows: (attack, language); the drop per system and the corrected p of their difference."""
  a, b = list(names)
  header = ['attack', 'lang', 'family', f'{names[a]} drop', f'{names[b]} drop',
            'delta', 'p (perm., corrected)']
  rows = []
  for attack, result in results.items():
    tests = result['drop_comparison'][metric]['languages']
    for lang, summary_a in result['results'][a]['languages'].items():
      summary_b = result['results'][b]['languages'][lang]
      family = next(f for f, s in result['results'][a]['families'].items()
                    if lang in s['languages'])
      rows.append([attack, lang, family, f'{summary_a[metric]["drop"]:+.1f}',
                   f'{summary_b[metric]["drop"]:+.1f}', f'{tests[lang]["delta"]:+.1f}',
                   eval_report.format_p(tests[lang]['permutation_p_corrected'])
                   + ('*' if tests[lang]['significant'] else '')])
  return eval_report.markdown_table(header, rows)


def plot_family_drops(results: Mapping[str, dict], names: Mapping[str, str], metric: str,
                      path) -> None:
  """Bars of the macro-per-family drop in `metric`: a group per family, a bar per attack x
  system (hatched for xDR+xQG)."""
  a, b = list(names)
  first = next(iter(results.values()))
  families = list(first['results'][a]['families']) + ['macro']
  fig = figure_lib.Figure(figsize=(max(7.0, 1.2 * len(families)), 4.5), dpi=120,
                          layout='constrained')
  ax = fig.add_subplot()
  bars = [(attack, system) for attack in results for system in (a, b)]
  width = 0.8 / len(bars)
  colors = {}
  for j, (attack, system) in enumerate(bars):
    summaries = results[attack]['results'][system]
    heights = [(summaries['macro'] if f == 'macro' else summaries['families'][f])[metric]['drop']
               for f in families]
    color = colors.setdefault(attack, f'C{len(colors)}')
    ax.bar([i - 0.4 + (j + 0.5) * width for i in range(len(families))], heights, width,
           color=color, hatch='//' if system == b else None, edgecolor='black', linewidth=0.3,
           label=f'{attack} {names[system]}')
  ax.set_xticks(range(len(families)), [f.replace(' (', '\n(') for f in families],
                fontsize='small')
  ax.axhline(0, color='black', linewidth=0.6)
  ax.set_ylabel(f'{metric} drop (clean - attacked)')
  ax.legend(fontsize='x-small', ncols=2)
  buffer = io.BytesIO()
  backend_agg.FigureCanvasAgg(fig).print_png(buffer)
  atomic.write_bytes(path, buffer.getvalue())


def write(directory, results: Mapping[str, dict], names: Mapping[str, str],
          metrics: Sequence[str], *, title: str,
          skipped: Mapping[str, str] | None = None) -> list[str]:
  """Writes the Markdown, JSON (without per-query entries) and plots; returns file names.

  `skipped`: {attack: why it did not run} (the data lacks what it reads), listed in both."""
  skipped = dict(skipped or {})
  directory = epath.Path(directory)
  parts, plots = [f'# {title}\n'], []
  parts.append('B = xDR+xQG, A = xDR. drop = clean - attacked (points of the metric); success '
               '= share of changed queries whose gold passage left the top-k; p: paired '
               'sign-flip test of the per-query drops, CI: bootstrap interval of the drop delta '
               '(families: corrected across families; '
               '* significant).\n')
  for metric in metrics if results else ():  # every attack skipped: nothing to tabulate
    name = f'robustness_drop_{metric}.png'
    plot_family_drops(results, names, metric, directory / name)
    plots.append(name)
    parts.append(f'## {metric} by language family\n\n{family_table(results, names, metric)}\n'
                 f'![{metric}]({name})\n')
    parts.append(f'## {metric} by language\n\n{language_table(results, names, metric)}')
  if skipped:
    parts.append('## Attacks not run\n\n' + ''.join(f'- {attack}: {reason}\n'
                                                   for attack, reason in skipped.items()))
  document = {'title': title, 'systems': dict(names), 'metrics': list(metrics),
              'skipped_attacks': skipped,
              'attacks': {attack: {k: v for k, v in result.items() if k != 'per_query'}
                          for attack, result in results.items()},
              'provenance': provenance.provenance()}
  atomic.write_text(directory / MARKDOWN_NAME, '\n'.join(parts))
  atomic.write_text(directory / JSON_NAME,
                    json.dumps(document, indent=1, ensure_ascii=False) + '\n')
  return plots + [MARKDOWN_NAME, JSON_NAME]
