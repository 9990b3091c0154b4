"""Sweep and comparison plots: PNG files written, nothing written on bad input."""

import pytest

from xqg_jax.eval import plots

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _row(alpha, num_queries, base):
  return {'alpha': alpha, 'num_queries': num_queries,
          'R@2kt': {'te': base, 'ar': base + 10, 'macro': base + 5},
          'R@5kt': {'te': base + 8, 'ar': base + 18, 'macro': base + 13}}


ALPHA_ROWS = [_row(a, 5, 30 + 10 * a) for a in (0.1, 0.0, 0.001, 0.01)]
NUM_QUERY_ROWS = [_row(0.01, n, 30 + n) for n in (1, 2, 3, 4, 5)]
COMPARISON = {
    'metric': 'R@2kt', 'significance_level': 0.05, 'correction': 'holm',
    'languages': {'te': {'a': 30.0, 'b': 36.0, 'significant': True},
                  'ar': {'a': 40.0, 'b': 40.5, 'significant': False}},
    'macro': {'a': 35.0, 'b': 38.25, 'significant': True},
}


def _is_png(path):
  return path.read_bytes().startswith(PNG_MAGIC)


def test_plots_are_written(tmp_path):
  plots.plot_alpha(ALPHA_ROWS, tmp_path / 'alpha.png')
  plots.plot_num_queries(NUM_QUERY_ROWS, tmp_path / 'nq.png', metric='R@5kt')
  plots.plot_comparison(COMPARISON, tmp_path / 'cmp.png', names=('xDR', 'xDR+xQG'))
  plots.plot_alpha([_row(0.0, 5, 30)], tmp_path / 'zero.png')
  for name in ('alpha.png', 'nq.png', 'cmp.png', 'zero.png'):
    assert _is_png(tmp_path / name)
  assert sorted(p.name for p in tmp_path.iterdir()) == ['alpha.png', 'cmp.png', 'nq.png',
                                                        'zero.png']


@pytest.mark.parametrize('plot, bad, message', [
    (plots.plot_alpha, [], 'the alpha sweep has no rows'),
    (plots.plot_alpha, ALPHA_ROWS + [_row(0.01, 3, 1)], 'repeats a value of alpha'),
    (plots.plot_alpha, [_row(-0.1, 5, 1)], 'alpha must not be negative'),
    (plots.plot_alpha, [{'alpha': 0.1}], "row 0 has no 'R@2kt'"),
    (plots.plot_alpha, [_row(0.1, 5, 1), {**_row(0.2, 5, 1), 'R@2kt': {'te': 1, 'macro': 1}}],
     'differ in their languages'),
    (plots.plot_num_queries, [{**_row(0.1, 5, 1), 'R@2kt': {'te': float('nan'), 'macro': 1}}],
     "R@2kt of 'te' at num_queries=5 must be a finite number"),
    (plots.plot_num_queries, [{**_row(0.1, 5, 1), 'R@2kt': {'te': 1.0}}], 'no macro R@2kt'),
    (plots.plot_num_queries, [{**_row(0.1, 5, 1), 'R@2kt': {'xx': 1.0, 'macro': 1.0}}],
     "unknown language code 'xx'"),
    (plots.plot_comparison, {**COMPARISON, 'languages': {}}, 'the comparison has no languages'),
    (plots.plot_comparison, {**COMPARISON, 'macro': {'a': None, 'b': 1.0, 'significant': True}},
     'macro a must be a finite number'),
])
def test_bad_input_writes_nothing(tmp_path, plot, bad, message):
  with pytest.raises(ValueError, match=message):
    plot(bad, tmp_path / 'plot.png')
  assert not list(tmp_path.iterdir())
