"""Markdown and JSON reports: results tables, A/B comparisons, sweeps, ANN recall, plots.

Rows are languages (with family and resource level from the language table), then families,
then the macro average. R@kt scores are percentages (1 decimal); the IR metrics are fractions
(3 decimals).
"""

import dataclasses
import json
from typing import Any, Mapping, Sequence

from etils import epath

from xqg_jax import languages
from xqg_jax.eval import ir_metrics
from xqg_jax.eval import plots
from xqg_jax.io import atomic

MARKDOWN_NAME = 'report.md'
JSON_NAME = 'report.json'
TIMINGS_NAME = 'timings.json'  # workdir/reports/: stage seconds and machine (launch/pipeline.py)
SWEEP_LABELS = {'alpha': 'alpha', 'num_queries': 'generated queries per language'}


@dataclasses.dataclass(frozen=True)
class Section:
  """An extra report section: Markdown for report.md and JSON-ready data for report.json."""
  markdown: str
  data: Any = None


def _score(metric: str, value: float) -> str:
  return f'{value:.3f}' if metric in ir_metrics.MEASURES else f'{value:.1f}'


def _delta(metric: str, value: float) -> str:
  return f'{value:+.3f}' if metric in ir_metrics.MEASURES else f'{value:+.1f}'


def format_p(value: float | None) -> str:
  if value is None:
    return 'n/a'
  return '<0.001' if value < 0.001 else f'{value:.3f}'


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines) + '\n'


def results_table(systems: dict[str, dict], metrics=('R@2kt', 'R@5kt')) -> str:
  """A table with a column per (system, metric); rows are languages then the macro average."""
  first = next(iter(systems.values()))
  langs = list(first['counted'])
  header = ['lang', 'family', 'resource', 'n'] + [f'{name} {m}' for name in systems
                                                  for m in metrics]
  rows = []
  for lang in langs + ['macro']:
    info = languages.get(lang) if lang != 'macro' else None
    cells = [lang, info.family if info else '', info.resource if info else '',
             str(first['counted'][lang]) if info else str(sum(first['counted'].values()))]
    cells += [_score(m, results[m][lang]) for results in systems.values() for m in metrics]
    rows.append(cells)
  return markdown_table(header, rows)


def comparison_table(comparison: Mapping, names: Sequence[str] = ('A', 'B')) -> str:
  """One metric's `significance.compare` result; '*' marks a significant delta.

  Rows: languages, families of more than one language (a one-language family's tests are its
  language's, apart from the correction), the macro average.
  """
  metric = comparison['metric']
  method = comparison['correction']
  corrected = method != 'none'
  header = ['', 'family', 'resource', 'n', names[0], names[1], 'delta', 'p t']
  header += [f'p t ({method})'] if corrected else []
  header += ['p perm'] + ([f'p perm ({method})'] if corrected else []) + ['sig']

  def row(label, family, resource, entry):
    cells = [label, family, resource, str(entry['n']), _score(metric, entry['a']),
             _score(metric, entry['b']), _delta(metric, entry['delta']), format_p(entry['t_p'])]
    cells += [format_p(entry['t_p_corrected'])] if corrected else []
    cells += [format_p(entry['permutation_p'])]
    cells += [format_p(entry['permutation_p_corrected'])] if corrected else []
    return cells + ['*' if entry['significant'] else '']

  rows = [row(lang, languages.get(lang).family, languages.get(lang).resource, entry)
          for lang, entry in comparison['languages'].items()]
  rows += [row(f'family: {family}', ', '.join(entry['languages']), '', entry)
           for family, entry in comparison['families'].items() if len(entry['languages']) > 1]
  rows.append(row('macro', '', '', comparison['macro']))
  correction = (f'{method}-corrected across languages and, separately, across families; the '
                'macro average is one test' if corrected else 'not corrected')
  legend = (f'{metric}, {names[1]} against {names[0]}. * : permutation p < '
            f'{comparison["significance_level"]:g} ({correction}). Permutation test: the signs '
            'of the per-query differences flipped, all sign patterns when there are at most '
            f'{comparison["permutations"]}, else that many at random; p t: paired t-test '
            '(Welch-Satterthwaite for families and macro).')
  return markdown_table(header, rows) + '\n' + legend + '\n'


def sweep_table(rows: Sequence[Mapping], x_key: str, metric: str) -> str:
  """A sweep's `metric` per language and macro, one row per value of `x_key`."""
  xs, ys = plots.sweep_series(rows, x_key, metric)
  return markdown_table([x_key] + list(ys),
                [[f'{x:g}'] + [_score(metric, ys[label][i]) for label in ys]
                 for i, x in enumerate(xs)])


def _key_values(info: Mapping[str, Any]) -> str:
  return markdown_table(['', 'value'], [[str(key), value if isinstance(value, str) else
                                 json.dumps(value, ensure_ascii=False)]
                                for key, value in info.items()])


def write_report(directory, *, names: Sequence[str] = ('A', 'B'),
                 results: Mapping[str, Mapping[str, dict]] | None = None,
                 comparisons: Mapping[str, Mapping] | None = None,
                 sweeps: Mapping[str, Sequence[Mapping]] | None = None,
                 ann_recall: Mapping[str, Any] | None = None,
                 extra_sections: Mapping[str, Section] | None = None,
                 title: str = 'xqg-jax evaluation') -> list[str]:
  """Writes the plots, report.md and report.json into `directory`; returns their file names.

  Args:
    directory: the output directory (created if needed).
    names: the names of systems A and B of the comparisons.
    results: {table title: {system: results dict (`xor_retrieve.evaluate`,
      `ir_metrics.evaluate`)}}; each becomes a results table of every metric.
    comparisons: {metric: `significance.compare` result}: a table and a bar plot each.
    sweeps: {'alpha' | 'num_queries': sweep rows (see `plots`)}: a table and a plot per metric.
    ann_recall: flat facts about approximate search against exact search (e.g. recall@k,
      index settings), shown as a key/value table.
    extra_sections: {section title: Section}, appended in order (the hook for later stages).
    title: the report's heading.

  The tables and the JSON document are rendered (and so checked) before the first file is
  written; each file is written atomically, the plots first, report.md and report.json last.
  """
  directory = epath.Path(directory)
  results, comparisons = results or {}, comparisons or {}
  sweeps, extra_sections = sweeps or {}, extra_sections or {}
  unknown = set(sweeps) - set(SWEEP_LABELS)
  if unknown:
    raise ValueError(f'unknown sweeps {sorted(unknown)}; expected {list(SWEEP_LABELS)}')
  parts = [f'# {title}\n']
  pending_plots = []  # (file name, plot function, input, keyword arguments)
  for table_title, systems in results.items():
    metrics = [key for key in next(iter(systems.values())) if key != 'counted']
    parts.append(f'## {table_title}\n\n' + results_table(dict(systems), metrics))
  for metric, comparison in comparisons.items():
    name = f'comparison_{metric}.png'
    pending_plots.append((name, plots.plot_comparison, comparison, {'names': names}))
    parts.append(f'## {names[1]} vs {names[0]}: {metric}\n\n'
                 + comparison_table(comparison, names) + f'\n![{metric}]({name})\n')
  for kind, rows in sweeps.items():
    if not rows:
      raise ValueError(f'the {kind} sweep has no rows')
    plot = plots.plot_alpha if kind == 'alpha' else plots.plot_num_queries
    for metric in [key for key in rows[0] if key not in SWEEP_LABELS]:
      name = f'sweep_{kind}_{metric}.png'
      pending_plots.append((name, plot, rows, {'metric': metric}))
      parts.append(f'## {metric} against {SWEEP_LABELS[kind]}\n\n'
                   + sweep_table(rows, kind, metric) + f'\n![{metric}]({name})\n')
  if ann_recall:
    parts.append('## Approximate search against exact search\n\n' + _key_values(ann_recall))
  for section_title, section in extra_sections.items():
    parts.append(f'## {section_title}\n\n{section.markdown.rstrip()}\n')
  document = {'title': title, 'systems': list(names), 'results': results,
              'comparisons': comparisons, 'sweeps': sweeps, 'ann_recall': ann_recall,
              'plots': [name for name, *_ in pending_plots],
              'extra': {key: section.data for key, section in extra_sections.items()}}
  text = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + '\n'
  for name, plot, data, kwargs in pending_plots:
    plot(data, directory / name, **kwargs)
  atomic.write_text(directory / MARKDOWN_NAME, '\n'.join(parts))
  atomic.write_text(directory / JSON_NAME, text)
  return document['plots'] + [MARKDOWN_NAME, JSON_NAME]


def generated_quality_table(quality: Mapping[str, Mapping[str, Any]]) -> str:
  """Generated-question quality per language (`synthetic.generated_quality.compute`)."""
  rows = ['Share of letters in the language\'s script; share of questions naming the '
          'passage\'s entity; share answerable from the passage.\n',
          '| lang | questions | own script | names entity | answerable |',
          '|---|---|---|---|---|']
  rows += [f'| {lang} | {q["questions"]} | {q["own_script_letter_share"]:.3f} | '
           f'{q["names_entity"]:.3f} | {q["answerable"]:.3f} |' for lang, q in quality.items()]
  return '\n'.join(rows) + '\n'
