"""PNG plots of sweeps and comparisons (matplotlib's Agg canvas; no display, no pyplot state).

Inputs are plain dicts:

- a sweep row: `{'alpha': float, 'num_queries': int, 'R@2kt': {lang: score, ..., 'macro':
  score}, 'R@5kt': {...}}`; a sweep result is `{'alpha': [row, ...], 'num_queries': [row, ...]}`,
  the rows of the alpha sweep and of the queries-per-language sweep;
- a comparison: the dict `significance.compare` returns.

Every input is checked before anything is drawn; a bad one raises `ValueError` and writes
nothing. Files are written atomically.
"""

import io
import math
from typing import Mapping, Sequence

from matplotlib.backends import backend_agg
from matplotlib import figure as figure_lib

from xqg_jax import languages
from xqg_jax.io import atomic

_SIZE = (7.0, 4.5)
_DPI = 120


def _ordered(codes) -> list[str]:
  table = list(languages.LANGUAGES)
  return sorted(languages.validate(list(codes)), key=table.index)


def _finite(value, where: str) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
    raise ValueError(f'{where} must be a finite number, got {value!r}')
  return float(value)


def sweep_series(rows: Sequence[Mapping], x_key: str, metric: str
            ) -> tuple[list[float], dict[str, list[float]]]:
  """The checked (x values ascending, {language or 'macro': y values}) of a sweep's rows.

  Raises ValueError for no rows, missing keys, repeated x values, rows with other languages,
  no macro, unknown languages or non-finite values.
  """
  if not rows:
    raise ValueError(f'the {x_key} sweep has no rows')
  for i, row in enumerate(rows):
    for key in (x_key, metric):
      if key not in row:
        raise ValueError(f'{x_key} sweep row {i} has no {key!r}')
  rows = sorted(rows, key=lambda row: row[x_key])
  xs = [_finite(row[x_key], f'{x_key} sweep: {x_key}') for row in rows]
  if len(set(xs)) != len(xs):
    raise ValueError(f'the {x_key} sweep repeats a value of {x_key}: {xs}')
  labels = set(rows[0][metric])
  if 'macro' not in labels:
    raise ValueError(f'{x_key} sweep rows have no macro {metric}')
  for row in rows:
    if set(row[metric]) != labels:
      raise ValueError(f'{x_key} sweep rows differ in their languages: {sorted(labels)} vs '
                       f'{sorted(row[metric])}')
  order = _ordered(labels - {'macro'}) + ['macro']
  return xs, {label: [_finite(row[metric][label], f'{metric} of {label!r} at {x_key}={x:g}')
                      for row, x in zip(rows, xs)] for label in order}


def _save(fig: figure_lib.Figure, path) -> None:
  buffer = io.BytesIO()
  backend_agg.FigureCanvasAgg(fig).print_png(buffer)
  atomic.write_bytes(path, buffer.getvalue())


def _lines(xs, ys: Mapping[str, Sequence[float]], xlabel: str, ylabel: str):
  fig = figure_lib.Figure(figsize=_SIZE, dpi=_DPI, layout='constrained')
  ax = fig.add_subplot()
  for label, values in ys.items():
    macro = label == 'macro'
    ax.plot(xs, values, marker='o', label=label, color='black' if macro else None,
            linewidth=2.5 if macro else 1.2, linestyle='--' if macro else '-')
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  ax.legend(fontsize='small', ncols=2)
  return fig, ax


def plot_num_queries(rows: Sequence[Mapping], path, metric: str = 'R@2kt') -> None:
  """`metric` against generated queries per language: a line per language and the macro."""
  xs, ys = sweep_series(rows, 'num_queries', metric)
  fig, ax = _lines(xs, ys, 'generated queries per language', metric)
  ax.set_xticks(xs)
  _save(fig, path)


def plot_alpha(rows: Sequence[Mapping], path, metric: str = 'R@2kt') -> None:
  """`metric` against alpha: a line per language and the macro.

  The axis is symmetric-log: linear up to the smallest positive alpha, so that alpha = 0 is
  drawn, and logarithmic above.
  """
  xs, ys = sweep_series(rows, 'alpha', metric)
  if xs[0] < 0:
    raise ValueError(f'alpha must not be negative, got {xs[0]}')
  fig, ax = _lines(xs, ys, 'alpha', metric)
  positive = [x for x in xs if x > 0]
  ax.set_xscale('symlog', linthresh=positive[0] if positive else 1e-3)
  ax.set_xticks(xs, [f'{x:g}' for x in xs])
  _save(fig, path)


def plot_comparison(comparison: Mapping, path, names: Sequence[str] = ('A', 'B')) -> None:
  """Grouped bars of systems A and B per language and macro; '*' marks a significant delta."""
  if len(names) != 2:
    raise ValueError(f'expected two system names, got {names!r}')
  groups = {**comparison['languages'], 'macro': comparison['macro']}
  if len(groups) == 1:
    raise ValueError('the comparison has no languages')
  labels = _ordered(comparison['languages']) + ['macro']
  heights = {label: (_finite(groups[label]['a'], f'{label} a'),
                     _finite(groups[label]['b'], f'{label} b')) for label in labels}
  if any(not isinstance(groups[label]['significant'], bool) for label in labels):
    raise ValueError('every comparison entry needs a boolean "significant"')
  fig = figure_lib.Figure(figsize=_SIZE, dpi=_DPI, layout='constrained')
  ax = fig.add_subplot()
  width = 0.38
  for side, (offset, name) in enumerate(zip((-width / 2, width / 2), names)):
    ax.bar([i + offset for i in range(len(labels))],
           [heights[label][side] for label in labels], width, label=name)
  top = max(max(pair) for pair in heights.values())
  for i, label in enumerate(labels):
    if groups[label]['significant']:
      ax.text(i, max(heights[label]) + 0.02 * top, '*', ha='center', va='bottom',
              fontsize=14)
  ax.set_xticks(range(len(labels)), labels)
  ax.set_ylim(0, top * 1.12 if top > 0 else 1)
  ax.set_ylabel(comparison['metric'])
  ax.set_title(f'{names[1]} vs {names[0]}: * permutation p < '
               f'{comparison["significance_level"]:g} ({comparison["correction"]} across '
               'languages)', fontsize='medium')
  ax.legend(fontsize='small')
  _save(fig, path)
