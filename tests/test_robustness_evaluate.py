"""Robustness aggregates on hand-made entries: a language no query of which was attacked."""

import pytest

from xqg_jax.robustness import attacked_retrieval


def _entry(lang, attacked, edit_rate, clean, after):
  return {'lang': lang, 'attacked': attacked, 'edit_rate': edit_rate, 'gold_clean': clean > 0,
          'gold_attacked': after > 0, 'R@2kt clean': clean, 'R@2kt attacked': after}


def test_a_language_without_attacked_queries_has_no_edit_rate_and_is_named():
  entries = {'a1': _entry('ar', True, 0.2, 100.0, 0.0), 'a2': _entry('ar', True, 0.4, 0.0, 0.0),
             'm1': _entry('am', False, 0.0, 100.0, 100.0)}
  result = attacked_retrieval.aggregate(entries, ['R@2kt'])
  assert result['languages']['ar']['edit_rate'] == pytest.approx(0.3)
  assert result['languages']['am']['edit_rate'] is None  # not 0.0: nothing was edited
  assert result['languages']['am']['unattacked'] == 1
  family = result['families']['Afro-Asiatic']
  assert family['edit_rate'] == pytest.approx(0.3)  # am left out of the average, not a 0
  assert family['languages_not_attacked'] == ['am']
  assert family['R@2kt']['drop'] == pytest.approx((50.0 + 0.0) / 2)
  assert result['macro']['languages_not_attacked'] == ['am']
