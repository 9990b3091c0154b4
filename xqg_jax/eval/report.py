"""Markdown tables of XOR-Retrieve results, one row per language (families from the table)."""

from xqg_jax import languages


def results_table(systems: dict[str, dict], metrics=('R@2kt', 'R@5kt')) -> str:
  """A table with a column per (system, metric); rows are languages then the macro average."""
  first = next(iter(systems.values()))
  langs = list(first['counted'])
  header = ['lang', 'family', 'resource', 'n'] + [f'{name} {m}' for name in systems
                                                  for m in metrics]
  rows = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for lang in langs + ['macro']:
    info = languages.get(lang) if lang != 'macro' else None
    cells = [lang, info.family if info else '', info.resource if info else '',
             str(first['counted'][lang]) if info else str(sum(first['counted'].values()))]
    cells += [f'{results[m][lang]:.1f}' for results in systems.values() for m in metrics]
    rows.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(rows) + '\n'
