"""Markdown and JSON reports of a split: systems, comparisons, selection, n-curve, search.

Rows are languages (with family and resource level from the language table), then families,
then the macro average. R@kt scores are percentages (1 decimal); the IR metrics are fractions
(3 decimals).
"""

import json
from typing import Mapping, Sequence

from etils import epath

from xqg_jax import languages
from xqg_jax.eval import ir_metrics
from xqg_jax.eval import plots
from xqg_jax.eval import xor_retrieve
from xqg_jax.io import atomic
from xqg_jax.io import provenance

MARKDOWN_NAME = 'report.md'
JSON_NAME = 'report.json'
TIMINGS_NAME = 'timings.json'  # workdir/reports/: stage seconds and machine (launch/pipeline.py)


def _score(metric: str, value: float) -> str:
  return f'{value:.3f}' if metric in ir_metrics.MEASURES else f'{value:.1f}'


def _delta(metric: str, value: float) -> str:
  return f'{value:+.3f}' if metric in ir_metrics.MEASURES else f'{value:+.1f}'


def interval(metric: str, entry: Mapping) -> str:
  """A comparison entry's bootstrap interval of the delta, as `[low, high]`."""
  return f'[{_delta(metric, entry["ci_low"])}, {_delta(metric, entry["ci_high"])}]'


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
  header = ['', 'family', 'resource', 'n', names[0], names[1], 'delta',
            f'{100 * comparison["confidence"]:g}% CI', 'p t']
  header += [f'p t ({method})'] if corrected else []
  header += ['p perm'] + ([f'p perm ({method})'] if corrected else []) + ['sig']

  def row(label, family, resource, entry):
    cells = [label, family, resource, str(entry['n']), _score(metric, entry['a']),
             _score(metric, entry['b']), _delta(metric, entry['delta']),
             interval(metric, entry), format_p(entry['t_p'])]
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
            f'{comparison["permutations"]}, else that many at random; CI: stratified bootstrap '
            f'({comparison["bootstrap"]} resamples of each language\'s queries); p t: paired '
            't-test (Welch-Satterthwaite for families and macro).')
  return markdown_table(header, rows) + '\n' + legend + '\n'


def sweep_table(rows: Sequence[Mapping], x_key: str, metric: str) -> str:
  """A sweep's `metric` per language and macro, one row per value of `x_key`."""
  xs, ys = plots.sweep_series(rows, x_key, metric)
  return markdown_table([x_key] + list(ys),
                [[f'{x:g}'] + [_score(metric, ys[label][i]) for label in ys]
                 for i, x in enumerate(xs)])


SOURCE_NAMES = {'xqg': 'xQG', 'oracle': 'oracle'}
FUSION_NAMES = {'all': 'all languages summed', 'matched': 'query language'}


def system_name(system: str) -> str:
  """The display name of a system: 'xdr', or '{source}_{fusion}'."""
  if system == 'xdr':
    return 'xDR'
  source, _, fusion = system.partition('_')
  return f'xDR+{SOURCE_NAMES.get(source, source)} ({FUSION_NAMES.get(fusion, fusion)})'


def setting_text(row: Mapping) -> str:
  return f'{FUSION_NAMES[row["fusion"]]}, alpha {row["alpha"]:g}, n {row["num_queries"]}'


def selection_section(selection: Mapping, rows: Sequence[Mapping], metric: str) -> str:
  """The dev-chosen settings, and the dev grid of `metric` (macro) per source and fusion."""
  chosen = selection['chosen']
  lines = [f'Chosen on {selection["split"] or "configuration (augment.select=False)"}, once, '
           'by macro ' + metric + '; test never seen.\n',
           markdown_table(['source', 'chosen setting', 'per fusion'], [
               [SOURCE_NAMES.get(src, src), setting_text(chosen[src]),
                '; '.join(setting_text(v) for k, v in chosen.items()
                          if k.startswith(f'{src}/'))]
               for src in chosen if '/' not in src])]
  if selection.get('baseline'):
    lines.append(f'\nxDR alone on dev: macro {metric} '
                 f'{selection["baseline"][metric]["macro"]:.1f}.\n')
  for key in sorted({(r['source'], r['fusion']) for r in rows}):
    mine = [r for r in rows if (r['source'], r['fusion']) == key]
    alphas = sorted({r['alpha'] for r in mine})
    ns = sorted({r['num_queries'] for r in mine})
    value = {(r['alpha'], r['num_queries']): r[metric]['macro'] for r in mine}
    lines.append(f'\nDev macro {metric}, {SOURCE_NAMES.get(key[0], key[0])}, '
                 f'{FUSION_NAMES[key[1]]} (rows alpha, columns n):\n')
    lines.append(markdown_table(['alpha'] + [f'n={n}' for n in ns],
                                [[f'{a:g}'] + [f'{value[(a, n)]:.1f}' for n in ns]
                                 for a in alphas]))
  return '\n'.join(lines)


def deltas_table(comparisons: Mapping[str, Mapping], settings: Mapping[str, str]) -> str:
  """Every system against xDR (macro): delta, bootstrap interval and permutation p per metric."""
  metrics = [m for m in next(iter(comparisons.values())) if m.endswith('kt')]
  header = ['system', 'setting (chosen on dev)'] + [
      f'{m} {x}' for m in metrics for x in ('xDR', 'system', 'delta', 'CI', 'p')]
  rows = []
  for name, comparison in comparisons.items():
    cells = [system_name(name), settings.get(name, '')]
    for m in metrics:
      e = comparison[m]['macro']
      cells += [_score(m, e['a']), _score(m, e['b']), _delta(m, e['delta']), interval(m, e),
                format_p(e['permutation_p'])]
    rows.append(cells)
  return markdown_table(header, rows)


def search_table(results: Mapping[str, Mapping], split: str, metric: str) -> str:
  """Exact against ScaNN per system: macro `metric`, recall, index count, size, build time."""
  rows = []
  for name, per_split in results.items():
    exact = per_split[split]['exact']
    scann = per_split[split].get('scann')
    if scann is None:
      continue
    index = scann['index']
    rows.append([system_name(name), f'{exact[metric]["macro"]:.1f}',
                 f'{scann[metric]["macro"]:.1f}',
                 ', '.join(f'{k} {v:.3f}' for k, v in scann['ann_recall'].items()),
                 str(index['indexes']), str(index['rows']), f'{index["bytes"] / 2 ** 20:.2f}',
                 f'{index["build_seconds"]:.2f}'])
  if not rows:
    return 'Exact search only (index.kind=exact).\n'
  return markdown_table(['system', f'{metric} exact', f'{metric} ScaNN', 'ScaNN recall vs exact',
                         'indexes', 'rows indexed', 'MB', 'build s'], rows)


def n_curve_table(sweep: Mapping, metric: str) -> str:
  """R@kt against n per source (chosen fusion and alpha), each n tested against xDR."""
  rows = [[SOURCE_NAMES.get(r['source'], r['source']), FUSION_NAMES[r['fusion']],
           f'{r["alpha"]:g}', str(r['num_queries']), f'{r[metric]["macro"]:.1f}',
           _delta(metric, r['comparison'][metric]['delta']),
           interval(metric, r['comparison'][metric]),
           format_p(r['comparison'][metric]['permutation_p'])]
          for r in sweep['num_queries']]
  return (f'xDR alone: macro {metric} {sweep["baseline"][metric]["macro"]:.1f}.\n\n'
          + markdown_table(['source', 'fusion', 'alpha', 'n', metric, 'delta vs xDR', 'CI',
                            'p perm'], rows))


def generated_quality_table(quality: Mapping[str, Mapping], split: str = 'test') -> str:
  """Generated-question quality per language on the passages of `split` entities
  ({source: `synthetic.generated_quality.compute` result})."""
  rows = []
  for source, per_split in quality.items():
    for lang, q in (per_split or {}).get(split, {}).items():
      rows.append([SOURCE_NAMES.get(source, source), lang, str(q['questions']),
                   f'{q["own_script"]:.3f}', f'{q["names_entity"]:.3f}',
                   f'{q["names_entity_latin"]:.3f}', f'{q["distinct"]:.3f}',
                   f'{q["answerable"]:.3f}'])
  legend = (f'Questions written for the passages of {split} entities (never in a training '
            'question). own script: share of letters in the language\'s script; names entity: '
            'share naming the passage\'s entity as the language spells it (Latin: in English); '
            'distinct: share of distinct questions per passage and language; answerable: names '
            'the entity and a fact the passage states.\n\n')
  return legend + markdown_table(['source', 'lang', 'questions', 'own script', 'names entity',
                                  'names entity (Latin)', 'distinct', 'answerable'], rows)


def generation_counts_text(counts: Mapping[str, int]) -> str:
  """One paragraph on what the generator wrote (the generate stage's counts)."""
  questions = counts.get('questions', 0)
  share = lambda key: f'{counts.get(key, 0)} ({counts.get(key, 0) / max(questions, 1):.1%})'
  return (f'xQG wrote {questions} questions: {share("empty")} empty, {share("degenerate")} '
          'degenerate (empty, or one word for more than half of four or more words); '
          f'{counts.get("truncated_prompts", 0)} prompts were truncated to the input length. '
          'Every question is fused as written.\n')


def write_unscored_report(directory, *, split: str, results: Mapping, runs: Mapping[str, str],
                          title: str) -> list[str]:
  """report.md and report.json of a split that has no answers: why it is not scored, and
  where each system's TREC run and XOR-Retrieve submission are (`runs`: {system: directory})."""
  directory = epath.Path(directory)
  reason = next(iter(results.values()))[split]['exact']['reason']
  rows = [(system_name(name), f'{runs[name]}/run.trec', f'{runs[name]}/xor_run.json')
          for name in results]
  document = {'title': title, 'split': split, 'scored': False, 'reason': reason,
              'runs': {name: {'trec': trec, 'submission': sub}
                       for name, (_, trec, sub) in zip(results, rows)},
              'provenance': provenance.provenance()}
  text = json.dumps(document, indent=1, ensure_ascii=False) + '\n'
  atomic.write_text(directory / MARKDOWN_NAME, '\n'.join([
      f'# {title}\n', f'Not scored: {reason}.\n',
      markdown_table(('system', 'TREC run', 'XOR-Retrieve submission'), rows)]))
  atomic.write_text(directory / JSON_NAME, text)
  return [MARKDOWN_NAME, JSON_NAME]


def write_split_report(directory, *, config, split: str, results: Mapping, comparisons: Mapping,
                       headline: str, selection: Mapping, selection_rows: Sequence[Mapping],
                       sweep: Mapping | None, quality: Mapping, generation: Mapping | None,
                       title: str) -> list[str]:
  """Writes the plots, report.md and report.json of one split into `directory`.

  Args:
    directory: the output directory (created if needed).
    config: the run config (its `eval.kilo_tokens` name the metrics).
    split: the query split.
    results: {system: {split: {'exact' | 'scann': results}}} (`evaluate_stage.load`).
    comparisons: {system: {metric: `significance.compare` of it against xDR, exact search}}.
    headline: the dev-chosen xDR+xQG system (compared in full first).
    selection: the selection (`select_stage`): 'split', 'baseline', 'chosen'.
    selection_rows: its grid rows (dev R@kt per setting).
    sweep: the n-curve of this split (`sweep.run`), or None.
    quality: {source: generated-question quality or None}.
    generation: the generate stage's counts (questions, empty, degenerate, truncated
      prompts), or None.
    title: the report's heading.

  Tables and the JSON document are rendered (and so checked) before the first file is
  written; each file is written atomically, the plots first, report.md and report.json last.
  """
  directory = epath.Path(directory)
  metrics = [xor_retrieve.metric_name(k) for k in config.eval.kilo_tokens]
  primary = metrics[0]
  settings = {f'{src}_{fusion}': setting_text(row)
              for key, row in selection['chosen'].items() if '/' in key
              for src, fusion in [key.split('/')]}
  parts = [f'# {title}\n',
           f'Systems are compared on exact search; the headline xDR+xQG system is '
           f'{system_name(headline)} ({settings[headline]}), chosen on dev.\n',
           '## Every system against xDR (macro, exact search)\n\n'
           + deltas_table(comparisons, settings)]
  exact = {system_name(n): {k: v for k, v in r[split]['exact'].items()
                            if k.startswith('R@') or k == 'counted'}
           for n, r in results.items()}
  parts.append(f'## XOR-Retrieve R@kt per language ({split}, exact search)\n\n'
               + results_table(exact, metrics))
  pending_plots = []
  names = ('xDR', system_name(headline))
  for metric in metrics:
    plot_name = f'comparison_{metric}.png'
    pending_plots.append((plot_name, plots.plot_comparison, comparisons[headline][metric],
                          {'names': names}))
    parts.append(f'## {names[1]} vs xDR: {metric}\n\n'
                 + comparison_table(comparisons[headline][metric], names)
                 + f'\n![{metric}]({plot_name})\n')
  for name, comparison in comparisons.items():
    if name != headline:
      parts.append(f'## {system_name(name)} vs xDR: {primary}\n\n'
                   + comparison_table(comparison[primary], ('xDR', system_name(name))))
  if all('ir' in r[split]['exact'] for r in results.values()):
    ir = {system_name(n): r[split]['exact']['ir'] for n, r in results.items()}
    parts.append(f'## IR metrics ({split}, exact search)\n\n' + results_table(
        ir, [m for m in next(iter(ir.values())) if m != 'counted']))
  parts.append('## Approximate search (ScaNN) beside exact search\n\n'
               + search_table(results, split, primary))
  parts.append('## Selection of alpha, fusion and n\n\n'
               + selection_section(selection, selection_rows, primary))
  if sweep:
    for source in sorted({r['source'] for r in sweep['num_queries']}):
      plot_name = f'n_curve_{source}.png'
      rows = [r for r in sweep['num_queries'] if r['source'] == source]
      pending_plots.append((plot_name, plots.plot_num_queries, rows, {'metric': primary}))
    parts.append(f'## {primary} against generated questions per language ({split})\n\n'
                 + n_curve_table(sweep, primary) + '\n' + ''.join(
                     f'![{name}]({name})\n' for name, *_ in pending_plots
                     if name.startswith('n_curve')))
  if generation or any(quality.values()):
    parts.append('## Generated questions\n\n'
                 + (generation_counts_text(generation) + '\n' if generation else '')
                 + (generated_quality_table(quality) if any(quality.values()) else ''))
  tokenizer = results[headline][split]['exact'].get('word_tokenizer')
  parts.insert(2, f'R@kt word tokenizer: {tokenizer} (nltk `word_tokenize`, as the official '
               'script, when its Punkt model is installed; else a regex rule).\n')
  document = {'title': title, 'split': split, 'headline': headline,
              'word_tokenizer': tokenizer,
              'system_names': {n: system_name(n) for n in results}, 'settings': settings,
              'results': {n: r[split] for n, r in results.items()}, 'comparisons': comparisons,
              'selection': selection, 'sweep': sweep, 'quality': quality,
              'generation': generation,
              'plots': [name for name, *_ in pending_plots],
              'provenance': provenance.provenance()}
  text = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + '\n'
  for name, plot, data, kwargs in pending_plots:
    plot(data, directory / name, **kwargs)
  atomic.write_text(directory / MARKDOWN_NAME, '\n'.join(parts))
  atomic.write_text(directory / JSON_NAME, text)
  return document['plots'] + [MARKDOWN_NAME, JSON_NAME]
