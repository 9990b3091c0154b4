"""XOR-Retrieve R@kt on hand-worked cases: budget cut mid-passage, yes/no skipping, answers."""

import pytest

from xqg_jax.data import records
from xqg_jax.eval import xor_retrieve

# Each passage is 10 word tokens ("w0 .. w9" style), so budgets are easy to count by hand.
PASSAGES = {
    'p1': 'a1 a2 a3 a4 a5 a6 a7 a8 a9 a10',
    'p2': 'b1 b2 b3 Paris b5 b6 b7 b8 b9 b10',
    'p3': 'c1 c2 c3 c4 c5 c6 c7 c8 c9 Berlin',
}


def test_budget_cuts_mid_passage():
  text = xor_retrieve.budget_text([PASSAGES['p1'], PASSAGES['p2']], 14)
  assert text.split() == PASSAGES['p1'].split() + ['b1', 'b2', 'b3', 'Paris']
  assert xor_retrieve.budget_text([PASSAGES['p1'], PASSAGES['p2']], 13).split()[-1] == 'b3'
  # Punctuation counts as tokens and the joined text has spaces between them.
  assert xor_retrieve.budget_text(['It cost 1,742 km.'], 100) == 'It cost 1 , 742 km .'


def test_hits_per_language_and_macro():
  queries = [
      records.Query('q1', 'x', ('Paris',), 'ja'),  # Paris is token 14 of the ranking
      records.Query('q2', 'x', ('yes',), 'ja'),  # yes/no only: not counted
      records.Query('q3', 'x', ('no', 'Berlin'), 'ko'),  # 'no' ignored, Berlin counts
      records.Query('q4', 'x', ('Rome',), 'ko'),  # never found
  ]
  ranking = {'q1': ['p1', 'p2', 'p3'], 'q2': ['p1'], 'q3': ['p3'], 'q4': ['p1', 'p2']}
  # A zero budget finds nothing.
  assert xor_retrieve.is_hit([PASSAGES[d] for d in ranking['q1']], ('Paris',), 0) is False
  results = xor_retrieve.evaluate(ranking, queries, PASSAGES, kilo_tokens=(2,))
  assert results['counted'] == {'ja': 1, 'ko': 2}
  assert results['R@2kt'] == {'ja': 100.0, 'ko': 50.0, 'macro': 75.0}


def test_budget_excludes_later_passages():
  # 2000 tokens: 200 passages of 10 tokens; the answer in passage 201 is outside the budget.
  texts = [PASSAGES['p1']] * 200 + [PASSAGES['p2']]
  assert not xor_retrieve.is_hit(texts, ('Paris',), 2)
  assert xor_retrieve.is_hit(texts, ('Paris',), 5)
  assert xor_retrieve.is_hit([PASSAGES['p1']] * 199 + [PASSAGES['p2']], ('Paris',), 2)


def test_missing_ranking_is_an_error():
  with pytest.raises(KeyError, match="no ranking for query 'q9'"):
    xor_retrieve.evaluate({}, [records.Query('q9', 'x', ('a',), 'ar')], PASSAGES)
