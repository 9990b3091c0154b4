"""XOR-Retrieve R@kt on hand-worked cases (budget cut mid-passage, yes/no skipping, answers),
and against the official script's logic under nltk's and the regex tokenizer."""

import numpy as np
import pytest

from xqg_jax.data import records
from xqg_jax.eval import xor_retrieve
from xqg_jax.lexical import word_tokenizer

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


def test_an_empty_evaluation_set_is_an_error_not_a_zero():
  with pytest.raises(ValueError, match='no query to evaluate'):
    xor_retrieve.evaluate({}, [], PASSAGES)
  only_yes_no = [records.Query('q1', 'x', ('yes',), 'ja')]
  with pytest.raises(ValueError, match='no query to evaluate'):
    xor_retrieve.evaluate({'q1': ['p1']}, only_yes_no, PASSAGES)


def _filler(n):
  return ' '.join(f'f{i}' for i in range(n))


def test_answer_straddling_the_budget_is_a_miss():
  # 199 passages of 10 tokens = 1990 tokens; then 9 fillers put "Addis" at token 2000 and
  # "Ababa" at 2001, one past the R@2kt budget. With 8 fillers the answer ends at token 2000.
  head = [PASSAGES['p1']] * 199
  straddling = head + [_filler(9) + ' Addis Ababa']
  inside = head + [_filler(8) + ' Addis Ababa']
  assert not xor_retrieve.is_hit(straddling, ('Addis Ababa',), 2)
  assert xor_retrieve.is_hit(straddling, ('Addis',), 2)
  assert xor_retrieve.is_hit(inside, ('Addis Ababa',), 2)
  assert len(xor_retrieve.budget_text(straddling, 2000).split()) == 2000


def test_outcomes_multi_answer_and_mixed_yes_no():
  queries = [
      records.Query('q1', 'x', ('Rome', 'Berlin'), 'ar'),  # second answer found
      records.Query('q2', 'x', ('yes', 'Paris'), 'ar'),  # 'yes' ignored, span answer found
      records.Query('q3', 'x', ('yes', 'Rome'), 'ar'),  # 'yes' ignored, span answer missing
      records.Query('q4', 'x', ('no', 'yes'), 'fi'),  # yes/no only: not counted
      records.Query('q5', 'x', ('a9 a10 b1',), 'fi'),  # spans two passages in the budget
  ]
  ranked_texts = {'q1': [PASSAGES['p3']], 'q2': [PASSAGES['p2']],
                  'q3': [PASSAGES['p2'], PASSAGES['p1']], 'q5': [PASSAGES['p1'], PASSAGES['p2']]}
  outcomes = xor_retrieve.query_outcomes(ranked_texts, queries, kilo_tokens=(2, 5))
  assert outcomes == {
      'q1': {'lang': 'ar', 'R@2kt': 1, 'R@5kt': 1},
      'q2': {'lang': 'ar', 'R@2kt': 1, 'R@5kt': 1},
      'q3': {'lang': 'ar', 'R@2kt': 0, 'R@5kt': 0},
      'q5': {'lang': 'fi', 'R@2kt': 1, 'R@5kt': 1},
  }
  results = xor_retrieve.aggregate(outcomes)
  assert results['counted'] == {'ar': 3, 'fi': 1}
  assert results['R@2kt'] == pytest.approx({'ar': 200 / 3, 'fi': 100.0, 'macro': 250 / 3})
  assert xor_retrieve.scores(outcomes, 'R@2kt') == {'q1': 100.0, 'q2': 100.0, 'q3': 0.0,
                                                   'q5': 100.0}
  assert xor_retrieve.languages_of(outcomes) == {'q1': 'ar', 'q2': 'ar', 'q3': 'ar', 'q5': 'fi'}


def _official_hits(ctxs, answers, max_token_num, tokenize):
  """`evaluate_top_k_hit` of XOR-TyDi's eval_xor_retrieve.py for one query, as written there."""
  span = [a for a in answers if a not in ['yes', 'no']]
  tokens = []
  for ctx_text in ctxs:
    tokens += tokenize(ctx_text)
    if len(tokens) >= max_token_num:
      break
  concat = ' '.join(tokens[:max_token_num])
  return int(any(a in concat for a in span))


@pytest.fixture
def punkt(tmp_path, monkeypatch):
  """A small English Punkt model in nltk's `punkt_tab` layout (abbreviations: dr, u.s, st)."""
  import nltk  # pylint: disable=g-import-not-at-top
  model = tmp_path / 'tokenizers/punkt_tab/english'
  model.mkdir(parents=True)
  for name in ('collocations.tab', 'sent_starters.txt', 'ortho_context.tab'):
    (model / name).write_text('')
  (model / 'abbrev_types.txt').write_text('dr\nu.s\nst\n')
  monkeypatch.setattr(nltk.data, 'path', [str(tmp_path)])
  word_tokenizer.budget_tokenizer.cache_clear()
  yield
  word_tokenizer.budget_tokenizer.cache_clear()


ABBREVIATED = ('Dr. Smith moved to the U.S. in 1,990 and met "Mr" Jones. St. Petersburg has '
               '5,400,000 people.')


def test_without_punkt_the_regex_tokenizer_is_used(monkeypatch):
  import nltk  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(nltk.data, 'path', [])
  word_tokenizer.budget_tokenizer.cache_clear()
  try:
    assert word_tokenizer.budget_tokenizer() == 'regex'
  finally:
    word_tokenizer.budget_tokenizer.cache_clear()


def test_nltk_with_punkt_keeps_abbreviations_and_numbers_whole(punkt):
  assert word_tokenizer.budget_tokenizer() == 'nltk'
  nltk_tokens = word_tokenizer.budget_tokenize(ABBREVIATED, 'nltk')
  regex_tokens = word_tokenizer.budget_tokenize(ABBREVIATED, 'regex')
  assert nltk_tokens[:7] == ['Dr.', 'Smith', 'moved', 'to', 'the', 'U.S.', 'in']
  assert '1,990' in nltk_tokens and '``' in nltk_tokens and 'St.' in nltk_tokens
  assert regex_tokens[:4] == ['Dr', '.', 'Smith', 'moved']
  assert '1,990' not in regex_tokens and len(regex_tokens) > len(nltk_tokens)
  # Where it shows in R@kt: a comma-grouped answer is found only by nltk's tokens.
  queries = [records.Query('q', 'Wann?', ('1,990',), 'fi'),
             records.Query('r', 'Kuinka?', ('5,400,000',), 'fi')]
  ranked = {'q': [ABBREVIATED], 'r': [ABBREVIATED]}
  for tokenizer, expected in (('nltk', 1), ('regex', 0)):
    outcomes = xor_retrieve.query_outcomes(ranked, queries, (2,), tokenizer)
    assert [outcomes[q]['R@2kt'] for q in 'qr'] == [expected, expected]


def test_r_at_kt_equals_the_official_logic_under_each_tokenizer(punkt):
  from nltk import tokenize  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  words = ['Dr.', 'U.S.', '1,990', 'capital', '"quoted"', "don't", 'St.', 'river', 'Helsinki',
           '9,500,000', 'the', '...', 'Cairo.', 'Egypt', '(1908)']
  passages = [' '.join(rng.choice(words, size=rng.integers(30, 120))) for _ in range(60)]
  queries = [records.Query(f'q{i}', 'q?', (str(rng.choice(words)).strip('."()'),), 'ja')
             for i in range(40)]
  ranked = {q.id: [passages[j] for j in rng.permutation(60)[:40]] for q in queries}
  official = {'nltk': tokenize.word_tokenize, 'regex': word_tokenizer.word_tokenize}
  for name, tokenize_fn in official.items():
    outcomes = xor_retrieve.query_outcomes(ranked, queries, (1, 2), name)
    for k in (1, 2):
      assert {q.id: outcomes[q.id][f'R@{k}kt'] for q in queries} == {
          q.id: _official_hits(ranked[q.id], q.answers, 1000 * k, tokenize_fn) for q in queries}
