"""Paired significance tests of system B against system A: per language, family and macro.

Both systems are scored on the same queries: a_i, b_i, d_i = b_i - a_i.

- delta: mean(b) - mean(a) over a language's queries. For a group of languages (a family, or all
  of them for the macro average) it is the mean over the group's languages of their deltas,
  i.e. the change of the macro average that the results tables show.
- Paired t-test, two-sided: t = mean(d) / (sd(d) / sqrt(n)), n - 1 degrees of freedom, as
  `scipy.stats.ttest_rel`. For a group of L languages: t = delta / SE with
  SE^2 = sum_l sd_l^2 / n_l / L^2 and Welch-Satterthwaite degrees of freedom (one language: the
  paired t-test). When every difference is 0, p = 1 (scipy gives nan); a language with fewer
  than 2 queries has no t p-value (None).
- Paired permutation test by sign flipping: under the null hypothesis the two scores of a query
  are exchangeable, so each d_i's sign is flipped independently, per query, and the statistic
  (the delta above) is recomputed. Two-sided p = share of flips with |statistic| >= |observed|.
  Queries with d_i = 0 are unchanged by a flip and drop out. With m queries left the test is
  exact when 2^m <= `permutations` (p = count / 2^m, the identity included); otherwise
  `permutations` random flips from a generator seeded by (seed, metric, group) give
  p = (1 + count) / (1 + permutations), counting the observed assignment as one of the
  permutations (Phipson and Smyth, 2010), so p is never 0 and the test keeps its level.
- Corrections: Holm (step-down) or Bonferroni over the languages, and separately over the
  families, applied to each test's p-values; the macro average is a single test, not corrected.
- significant: the corrected permutation p-value is below `significance_level`.
- Confidence interval of the delta: stratified percentile bootstrap. Each of `bootstrap`
  replicates resamples every language's queries with replacement (n_l of n_l) and recomputes
  the delta; the interval is the (1 - `confidence`)/2 and (1 + `confidence`)/2 quantiles of the
  replicates. Replicates come from a generator seeded by (seed, 'bootstrap', metric, group).
"""

import math
from typing import Mapping, Sequence

import ml_collections
import numpy as np
import scipy.stats

from xqg_jax import languages
from xqg_jax import randomness

CORRECTIONS = ('holm', 'bonferroni', 'none')
_CHUNK_ELEMENTS = 1 << 22  # Sign matrix entries per block of random flips.
_TIE_EPS = 100 * np.finfo(np.float64).eps  # Relative tolerance for |stat| == |observed|.


def t_test_p(diffs: Sequence[np.ndarray]) -> float | None:
  """Two-sided p of the mean over groups of per-group mean differences (one group: paired t)."""
  if any(len(d) < 2 for d in diffs):
    return None
  means = np.array([d.mean() for d in diffs])
  variances = np.array([d.var(ddof=1) / len(d) for d in diffs])  # of each group's mean
  delta = means.mean()
  if variances.sum() == 0:
    return 1.0 if delta == 0 else 0.0
  t = delta / math.sqrt(variances.sum() / len(diffs) ** 2)
  df = variances.sum() ** 2 / np.sum(variances ** 2 / np.array([len(d) - 1 for d in diffs]))
  return float(2 * scipy.stats.t.sf(abs(t), df))


def sign_flip_p(x: np.ndarray, permutations: int, rng: np.random.Generator
                ) -> tuple[float, bool]:
  """Two-sided p of |sum(s * x)| over sign vectors s; returns (p, whether exact).

  Every statistic above is such a sum: x_i = d_i / n_l for a language, d_i / (L n_l) for a group.
  """
  x = np.asarray(x, np.float64)
  x = x[x != 0]
  m = len(x)
  observed = abs(x.sum())
  threshold = observed - _TIE_EPS * observed
  if m < 63 and 2 ** m <= permutations:
    signs = 1.0 - 2.0 * ((np.arange(2 ** m)[:, None] >> np.arange(m)) & 1)
    return float(np.count_nonzero(np.abs(signs @ x) >= threshold) / 2 ** m), True
  count = 0
  rows = max(1, _CHUNK_ELEMENTS // m)
  for start in range(0, permutations, rows):
    bits = rng.integers(0, 2, size=(min(rows, permutations - start), m), dtype=np.int8)
    count += int(np.count_nonzero(np.abs((1.0 - 2.0 * bits) @ x) >= threshold))
  return (1 + count) / (1 + permutations), False


def holm(p_values: Sequence[float]) -> list[float]:
  """Holm's step-down adjusted p-values, in the input order."""
  m = len(p_values)
  adjusted = [0.0] * m
  running = 0.0
  for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
    running = max(running, min(1.0, (m - rank) * p_values[i]))
    adjusted[i] = running
  return adjusted


def bonferroni(p_values: Sequence[float]) -> list[float]:
  return [min(1.0, len(p_values) * p) for p in p_values]


def correct(p_values: Mapping[str, float | None], method: str) -> dict[str, float | None]:
  """Adjusts the p-values of a family of tests; None (no test) stays None and is not counted."""
  if method not in CORRECTIONS:
    raise ValueError(f'correction must be one of {CORRECTIONS}, got {method!r}')
  keys = [key for key, p in p_values.items() if p is not None]
  values = [p_values[key] for key in keys]
  adjusted = {'holm': holm, 'bonferroni': bonferroni, 'none': list}[method](values)
  out = dict.fromkeys(p_values)
  out.update(zip(keys, adjusted))
  return out


def _check(per_query_a, per_query_b, lang_of, config) -> None:
  only_a = sorted(set(per_query_a) - set(per_query_b))
  only_b = sorted(set(per_query_b) - set(per_query_a))
  if only_a or only_b:
    raise ValueError(f'the systems were scored on different queries: {len(only_a)} only in A '
                     f'{only_a[:5]}, {len(only_b)} only in B {only_b[:5]}')
  if not per_query_a:
    raise ValueError('no queries to compare')
  unknown = sorted(set(per_query_a) - set(lang_of))
  if unknown:
    raise ValueError(f'{len(unknown)} queries have no language, e.g. {unknown[:5]}')
  for name, scores in (('A', per_query_a), ('B', per_query_b)):
    bad = [qid for qid, value in scores.items() if not math.isfinite(value)]
    if bad:
      raise ValueError(f'system {name} has non-finite scores, e.g. query {bad[0]!r}')
  if config.correction not in CORRECTIONS:
    raise ValueError(f'correction must be one of {CORRECTIONS}, got {config.correction!r}')
  if not 0 < config.significance_level < 1:
    raise ValueError(f'significance_level must be in (0, 1), got {config.significance_level}')
  if config.permutations < 1:
    raise ValueError(f'permutations must be at least 1, got {config.permutations}')
  if config.bootstrap < 1:
    raise ValueError(f'bootstrap must be at least 1, got {config.bootstrap}')
  if not 0 < config.confidence < 1:
    raise ValueError(f'confidence must be in (0, 1), got {config.confidence}')


def bootstrap_interval(diffs: Sequence[np.ndarray], replicates: int, confidence: float,
                       rng: np.random.Generator) -> tuple[float, float]:
  """Percentile interval of the mean over groups of per-group mean differences, resampling
  each group's differences with replacement (stratified bootstrap)."""
  total = np.zeros(replicates)
  rows = max(1, _CHUNK_ELEMENTS // max(len(d) for d in diffs))
  for d in diffs:
    for start in range(0, replicates, rows):
      stop = min(replicates, start + rows)
      total[start:stop] += d[rng.integers(0, len(d), size=(stop - start, len(d)))].mean(axis=1)
  total /= len(diffs)
  low, high = np.quantile(total, [(1 - confidence) / 2, (1 + confidence) / 2])
  return float(low), float(high)


def _group(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], config, rng,
           bootstrap_rng) -> dict:
  """The entry of a group of languages (one language: that language's tests)."""
  diffs = [b - a for a, b in pairs.values()]
  weighted = np.concatenate([d / (len(d) * len(diffs)) for d in diffs])
  permutation_p, exact = sign_flip_p(weighted, config.permutations, rng)
  ci_low, ci_high = bootstrap_interval(diffs, config.bootstrap, config.confidence, bootstrap_rng)
  mean_a = float(np.mean([a.mean() for a, _ in pairs.values()]))
  mean_b = float(np.mean([b.mean() for _, b in pairs.values()]))
  return {'n': int(sum(len(d) for d in diffs)), 'a': mean_a, 'b': mean_b,
          'delta': float(np.mean([d.mean() for d in diffs])), 'ci_low': ci_low,
          'ci_high': ci_high, 't_p': t_test_p(diffs), 'permutation_p': permutation_p,
          'permutation_exact': exact}


def _finish(entries: dict[str, dict], method: str, level: float) -> dict[str, dict]:
  """Adds corrected p-values and the significance flag to a family of tests."""
  for test in ('t_p', 'permutation_p'):
    corrected = correct({key: entry[test] for key, entry in entries.items()}, method)
    for key, entry in entries.items():
      entry[f'{test}_corrected'] = corrected[key]
  for entry in entries.values():
    entry['significant'] = bool(entry['permutation_p_corrected'] < level)
  return entries


def compare(per_query_a: Mapping[str, float], per_query_b: Mapping[str, float],
            lang_of: Mapping[str, str], metric: str, config: ml_collections.ConfigDict, *,
            seed: int = 0) -> dict:
  """Tests B against A on the queries both were scored on (see the module docstring).

  Args:
    per_query_a: {query id: score} of system A (e.g. `xor_retrieve.scores`).
    per_query_b: the same for system B, on exactly the same queries.
    lang_of: {query id: language code}; may hold more queries than are scored.
    metric: the metric's name, recorded and used to seed the random flips.
    config: the `config.eval` section (`significance_level`, `permutations`, `correction`,
      `bootstrap`, `confidence`).
    seed: seeds the random flips together with (metric, group name).

  Returns:
    {'metric', 'correction', 'significance_level', 'permutations',
     'languages': {lang: entry}, 'families': {family: entry}, 'macro': entry}, where an entry
    is {'n', 'a', 'b', 'delta', 'ci_low', 'ci_high', 't_p', 'permutation_p',
    'permutation_exact', 't_p_corrected',
    'permutation_p_corrected', 'significant'} (families and macro also list 'languages');
    languages and families in the order of the language table. JSON-ready.
  """
  _check(per_query_a, per_query_b, lang_of, config)
  ids: dict[str, list[str]] = {}
  for qid in sorted(per_query_a):
    ids.setdefault(lang_of[qid], []).append(qid)
  codes = sorted(languages.validate(list(ids)), key=list(languages.LANGUAGES).index)
  pairs = {lang: (np.array([per_query_a[q] for q in ids[lang]], np.float64),
                  np.array([per_query_b[q] for q in ids[lang]], np.float64))
           for lang in codes}

  def group(name, members):
    return _group({lang: pairs[lang] for lang in members}, config,
                  randomness.numpy_rng(seed, 'significance', metric, name),
                  randomness.numpy_rng(seed, 'bootstrap', metric, name))

  level = config.significance_level
  per_language = _finish({lang: group(lang, (lang,)) for lang in codes}, config.correction,
                         level)
  families = _finish({family: {**group(f'family:{family}', members), 'languages': list(members)}
                      for family, members in languages.families(codes).items()},
                     config.correction, level)
  macro = _finish({'macro': {**group('macro', codes), 'languages': list(codes)}}, 'none',
                  level)['macro']
  return {'metric': metric, 'correction': config.correction, 'significance_level': level,
          'permutations': config.permutations, 'bootstrap': config.bootstrap,
          'confidence': config.confidence, 'languages': per_language, 'families': families,
          'macro': macro}
