"""Paired t and sign-flip permutation tests against scipy and brute force; corrections; macro."""

import itertools
import json

import ml_collections
import numpy as np
import pytest
import scipy.stats

from xqg_jax.eval import significance


def _config(permutations=10_000, correction='holm', level=0.05, bootstrap=2_000):
  return ml_collections.ConfigDict({'permutations': permutations, 'correction': correction,
                                    'significance_level': level, 'bootstrap': bootstrap,
                                    'confidence': 0.95})


def _brute_force_p(x):
  """Share of all 2^n sign vectors (zeros included) with |sum(s * x)| >= |sum(x)|."""
  observed = abs(sum(x))
  stats = [abs(sum(s * v for s, v in zip(signs, x)))
           for signs in itertools.product((1, -1), repeat=len(x))]
  return np.mean([s >= observed - 1e-12 for s in stats])


@pytest.mark.parametrize('n', [2, 5, 40, 300])
def test_t_test_equals_scipy_ttest_rel(n):
  rng = np.random.default_rng(n)
  a = rng.normal(size=n)
  b = a + rng.normal(0.2, 1.0, size=n)
  expected = scipy.stats.ttest_rel(b, a).pvalue
  assert significance.t_test_p([b - a]) == pytest.approx(expected, rel=1e-12)


def test_t_test_degenerate_cases():
  assert significance.t_test_p([np.zeros(5)]) == 1.0  # scipy: nan
  assert significance.t_test_p([np.full(5, 2.0)]) == 0.0
  assert significance.t_test_p([np.array([1.0])]) is None


def test_exact_permutation_p_matches_brute_force_and_scipy():
  rng = np.random.default_rng(0)
  a = rng.normal(size=10)
  b = a + rng.normal(0.5, 1.0, size=10)
  p, exact = significance.sign_flip_p(b - a, 10_000, rng)
  assert exact
  assert p == pytest.approx(_brute_force_p(b - a), abs=1e-12)
  reference = scipy.stats.permutation_test(
      (b, a), lambda x, y, axis: np.mean(x - y, axis=axis), permutation_type='samples',
      vectorized=True, n_resamples=np.inf, alternative='two-sided')
  assert p == pytest.approx(reference.pvalue, abs=1e-12)


def test_exact_permutation_p_on_tied_hits():
  # 0/1 hits scaled to percent: many ties, and zero differences that flips do not change.
  a = np.array([0, 100, 100, 0, 0, 100, 0, 0, 100, 0, 0, 0], np.float64)
  b = np.array([100, 100, 0, 100, 100, 100, 0, 100, 100, 0, 100, 0], np.float64)
  p, exact = significance.sign_flip_p(b - a, 64, np.random.default_rng(0))
  assert exact  # 6 non-zero differences: 2^6 = 64 flips
  assert p == pytest.approx(_brute_force_p(b - a))
  reference = scipy.stats.permutation_test(
      (b, a), lambda x, y, axis: np.mean(x - y, axis=axis), permutation_type='samples',
      vectorized=True, n_resamples=np.inf, alternative='two-sided')
  assert p == pytest.approx(reference.pvalue)


def test_random_permutation_p_approximates_exact_and_counts_the_observed():
  rng = np.random.default_rng(1)
  d = rng.normal(0.3, 1.0, size=14)
  exact_p, _ = significance.sign_flip_p(d, 2 ** 14, rng)
  random_p, exact = significance.sign_flip_p(d, 4000, np.random.default_rng(2))
  assert not exact
  assert random_p == pytest.approx(exact_p, abs=0.03)
  # All 30 differences positive: a random flip essentially never reaches the observed sum,
  # so p = (1 + 0) / (1 + 99).
  p, exact = significance.sign_flip_p(np.ones(30), 99, np.random.default_rng(3))
  assert (p, exact) == (0.01, False)


def test_holm_and_bonferroni_known_values():
  p = [0.01, 0.04, 0.03, 0.005]
  assert significance.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
  assert significance.bonferroni(p) == pytest.approx([0.04, 0.16, 0.12, 0.02])
  assert significance.holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])
  corrected = significance.correct({'ar': 0.01, 'bn': None, 'fi': 0.02}, 'holm')
  assert corrected == pytest.approx({'ar': 0.02, 'bn': None, 'fi': 0.02})
  assert significance.correct({'ar': 0.01}, 'none') == {'ar': 0.01}
  with pytest.raises(ValueError, match='correction must be one of'):
    significance.correct({'ar': 0.01}, 'sidak')


def _two_languages():
  a = {'j1': 0.0, 'j2': 100.0, 'j3': 0.0, 'k1': 100.0, 'k2': 0.0, 'k3': 0.0, 'k4': 100.0}
  b = {'j1': 100.0, 'j2': 100.0, 'j3': 100.0, 'k1': 0.0, 'k2': 100.0, 'k3': 100.0, 'k4': 100.0}
  lang_of = {qid: 'ja' if qid[0] == 'j' else 'ko' for qid in a}
  return a, b, lang_of


def test_compare_per_language_and_macro():
  a, b, lang_of = _two_languages()
  result = significance.compare(a, b, lang_of, 'R@2kt', _config(correction='bonferroni'))
  json.dumps(result)  # JSON-ready
  ja, ko, macro = result['languages']['ja'], result['languages']['ko'], result['macro']
  assert (ja['n'], ja['a'], ja['b']) == (3, pytest.approx(100 / 3), 100.0)
  assert ja['delta'] == pytest.approx(200 / 3)
  assert ko['delta'] == pytest.approx(25.0)
  assert macro['delta'] == pytest.approx((200 / 3 + 25) / 2)
  assert macro['a'] == pytest.approx((100 / 3 + 50) / 2)
  assert macro['languages'] == ['ja', 'ko']
  d_ja = np.array([b[q] - a[q] for q in ('j1', 'j2', 'j3')])
  d_ko = np.array([b[q] - a[q] for q in ('k1', 'k2', 'k3', 'k4')])
  assert ja['t_p'] == pytest.approx(scipy.stats.ttest_rel(d_ja, 0 * d_ja).pvalue)
  assert ja['permutation_p'] == pytest.approx(_brute_force_p(d_ja))
  assert ja['permutation_p_corrected'] == pytest.approx(min(1, 2 * ja['permutation_p']))
  # Macro: flips per query of the macro mean of per-language mean differences.
  assert macro['permutation_exact']
  assert macro['permutation_p'] == pytest.approx(
      _brute_force_p(list(d_ja / 3 / 2) + list(d_ko / 4 / 2)))
  assert macro['permutation_p_corrected'] == macro['permutation_p']
  assert macro['significant'] == (macro['permutation_p'] < 0.05)
  # Families: ja and ko are one-language families, so their tests are the languages' tests.
  assert result['families']['Japonic']['permutation_p'] == ja['permutation_p']
  assert result['families']['Japonic']['t_p'] == pytest.approx(ja['t_p'])


def test_macro_of_one_language_is_the_language_test():
  rng = np.random.default_rng(4)
  a = {f'q{i}': float(v) for i, v in enumerate(rng.normal(size=12))}
  b = {qid: v + rng.normal(0.4) for qid, v in a.items()}
  result = significance.compare(a, b, dict.fromkeys(a, 'te'), 'nDCG@10', _config())
  te, macro = result['languages']['te'], result['macro']
  assert macro['t_p'] == pytest.approx(te['t_p'], rel=1e-12)
  assert macro['permutation_p'] == pytest.approx(te['permutation_p'])
  assert te['t_p'] == pytest.approx(
      scipy.stats.ttest_rel(list(b.values()), list(a.values())).pvalue, rel=1e-12)


def test_random_flips_are_seeded_and_order_free():
  rng = np.random.default_rng(5)
  a = {f'q{i}': 100.0 * v for i, v in enumerate(rng.random(60) < 0.4)}
  b = {qid: 100.0 * v for qid, v in zip(a, rng.random(60) < 0.6)}
  lang_of = {qid: ('ar', 'bn', 'am')[i % 3] for i, qid in enumerate(a)}
  config = _config(permutations=500)
  first = significance.compare(a, b, lang_of, 'R@5kt', config, seed=7)
  reordered = significance.compare(dict(reversed(a.items())), b, lang_of, 'R@5kt', config,
                                   seed=7)
  assert first == reordered
  assert list(first['languages']) == ['ar', 'bn', 'am']  # language-table order
  assert list(first['families']) == ['Afro-Asiatic', 'Indo-European']
  assert first['families']['Afro-Asiatic']['languages'] == ['ar', 'am']
  assert not first['macro']['permutation_exact']
  assert 0.001 < first['macro']['permutation_p'] < 0.9
  other_seed = significance.compare(a, b, lang_of, 'R@5kt', config, seed=8)
  assert other_seed['macro']['permutation_p'] != first['macro']['permutation_p']


def test_compare_input_errors():
  a, b, lang_of = _two_languages()
  with pytest.raises(ValueError, match=r"different queries: 0 only in A \[\], 1 only in B "
                     r"\['x'\]"):
    significance.compare(a, {**b, 'x': 0.0}, lang_of, 'R@2kt', _config())
  with pytest.raises(ValueError, match=r"1 queries have no language, e\.g\. \['j1'\]"):
    significance.compare(a, b, {k: v for k, v in lang_of.items() if k != 'j1'}, 'R@2kt',
                         _config())
  with pytest.raises(ValueError, match="system B has non-finite scores, e.g. query 'j1'"):
    significance.compare(a, {**b, 'j1': float('nan')}, lang_of, 'R@2kt', _config())
  with pytest.raises(ValueError, match='correction must be one of'):
    significance.compare(a, b, lang_of, 'R@2kt', _config(correction='fdr'))
  with pytest.raises(ValueError, match="unknown language code 'xx'"):
    significance.compare(a, b, {**lang_of, 'j1': 'xx'}, 'R@2kt', _config())


def test_bootstrap_interval_is_the_stratified_percentile_interval():
  rng = np.random.default_rng(11)
  diffs = [rng.normal(1.0, 2.0, size=80), rng.normal(-0.5, 1.0, size=30)]
  low, high = significance.bootstrap_interval(diffs, 4000, 0.9, np.random.default_rng(3))
  # The same replicates by a plain loop: resample each group, mean of the group means.
  check = np.random.default_rng(3)
  replicates = np.zeros(4000)
  for d in diffs:
    replicates += d[check.integers(0, len(d), size=(4000, len(d)))].mean(axis=1)
  replicates /= 2
  assert (low, high) == pytest.approx(tuple(np.quantile(replicates, [0.05, 0.95])))
  observed = np.mean([d.mean() for d in diffs])
  assert low < observed < high
  # Normal theory: the interval's half width is about 1.645 standard errors.
  se = np.sqrt(sum(d.var(ddof=1) / len(d) for d in diffs)) / 2
  assert (high - low) / 2 == pytest.approx(1.645 * se, rel=0.1)


def test_compare_reports_intervals_that_cover_the_delta():
  rng = np.random.default_rng(12)
  a = {f'q{i}': 100.0 * v for i, v in enumerate(rng.random(200) < 0.3)}
  b = {qid: 100.0 * v for qid, v in zip(a, rng.random(200) < 0.5)}
  lang_of = {qid: ('ru', 'te')[i % 2] for i, qid in enumerate(a)}
  result = significance.compare(a, b, lang_of, 'R@2kt', _config())
  for entry in [*result['languages'].values(), result['macro']]:
    assert entry['ci_low'] <= entry['delta'] <= entry['ci_high']
  assert result['macro']['ci_low'] > 0  # a 20-point gain on 200 queries
  assert result['bootstrap'] == 2_000 and result['confidence'] == 0.95
  again = significance.compare(a, b, lang_of, 'R@2kt', _config())
  assert again['macro']['ci_low'] == result['macro']['ci_low']  # seeded
  with pytest.raises(ValueError, match='bootstrap must be at least 1'):
    significance.compare(a, b, lang_of, 'R@2kt', _config(bootstrap=0))
