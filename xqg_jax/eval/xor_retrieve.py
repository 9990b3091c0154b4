"""XOR-Retrieve's R@kt: is an answer in the first k thousand tokens of the ranked passages?

Per query (queries whose answers are all "yes"/"no" are skipped), walk the ranked passages in
order, word-tokenize each passage text and append its tokens until at least k*1000 are
collected; cut to exactly k*1000, join with spaces; the query is a hit when any non-yes/no
answer string is a substring of that text. A language's score is 100 * hits / counted queries;
the macro average is over languages.

Passages are tokenized as the official script (`eval_xor_retrieve.py`) does, with nltk's
`word_tokenize`, when nltk's Punkt model is installed, else with DPR's SimpleTokenizer rule
(`word_tokenizer`, which says where they differ); every function takes the tokenizer's name,
default `word_tokenizer.budget_tokenizer()`, and results name the one used.

Per-query outcomes (`query_outcomes`) keep each counted query's language and 0/1 hit per k so
that significance tests can pair the queries of two systems.
"""

import functools
from typing import Iterable, Mapping, Sequence

import numpy as np

from xqg_jax.data import records
from xqg_jax.lexical import word_tokenizer

YES_NO = ('yes', 'no')

# {query id: {'lang': code, 'R@2kt': 0 | 1, 'R@5kt': 0 | 1, ...}}, counted queries only.
Outcomes = dict[str, dict]


def metric_name(kilo_tokens: int) -> str:
  return f'R@{kilo_tokens}kt'


def span_answers(answers: Sequence[str]) -> list[str]:
  return [a for a in answers if a not in YES_NO]


@functools.lru_cache(maxsize=1 << 16)
def _passage(text: str, tokenizer: str) -> tuple[int, str, tuple[int, ...]]:
  """(token count, tokens joined with spaces, end offset of each token in that string):
  cached, since every query's ranking walks the same passages."""
  tokens = word_tokenizer.budget_tokenize(text, tokenizer)
  ends, offset = [], -1
  for token in tokens:
    offset += 1 + len(token)
    ends.append(offset)
  return len(tokens), ' '.join(tokens), tuple(ends)


def _tokenizer(tokenizer: str | None) -> str:
  return tokenizer or word_tokenizer.budget_tokenizer()


def budget_texts(passage_texts: Iterable[str], budgets: Sequence[int],
                 tokenizer: str | None = None) -> list[str]:
  """For each budget, the first that many word tokens of the passages in order, joined with
  spaces (a smaller budget's text is a prefix of a larger one's; one walk gives them all)."""
  tokenizer = _tokenizer(tokenizer)
  order = sorted(range(len(budgets)), key=lambda i: budgets[i])
  out: list[str] = [''] * len(budgets)
  parts: list[str] = []
  count = 0
  pending = 0
  for text in passage_texts:
    length, joined, ends = _passage(text, tokenizer)
    while pending < len(order) and count + length >= budgets[order[pending]]:
      need = budgets[order[pending]] - count
      out[order[pending]] = ' '.join(parts + [joined[:ends[need - 1]]] if need else parts)
      pending += 1
    if pending == len(order):
      return out
    if length:
      parts.append(joined)
      count += length
  rest = ' '.join(parts)
  for i in order[pending:]:
    out[i] = rest
  return out


def budget_text(passage_texts: Iterable[str], num_tokens: int,
                tokenizer: str | None = None) -> str:
  """The first `num_tokens` word tokens of the passages in order, joined with spaces."""
  return budget_texts(passage_texts, [num_tokens], tokenizer)[0]


def hits(passage_texts: Iterable[str], answers: Sequence[str],
         kilo_tokens: Sequence[int], tokenizer: str | None = None) -> list[int]:
  """1 or 0 per budget: is a non-yes/no answer a substring of the budget's text?"""
  answers = span_answers(answers)
  return [int(any(answer in text for answer in answers))
          for text in budget_texts(passage_texts, [1000 * k for k in kilo_tokens], tokenizer)]


def is_hit(passage_texts: Iterable[str], answers: Sequence[str], kilo_tokens: int,
           tokenizer: str | None = None) -> bool:
  return bool(hits(passage_texts, answers, [kilo_tokens], tokenizer)[0])


def budget_depth(passage_texts: Iterable[str], num_tokens: int,
                 tokenizer: str | None = None) -> int:
  """How many of the ranked passages it takes to reach `num_tokens` word tokens (all of them
  when they hold fewer): a submission needs no more, the budget never reads past them."""
  tokenizer = _tokenizer(tokenizer)
  count = depth = 0
  for depth, text in enumerate(passage_texts, 1):
    count += _passage(text, tokenizer)[0]
    if count >= num_tokens:
      break
  return depth


def query_outcomes(ranked_texts: Mapping[str, Sequence[str]], queries: Sequence[records.Query],
                   kilo_tokens: Sequence[int] = (2, 5), tokenizer: str | None = None
                   ) -> Outcomes:
  """Each counted query's language and 0/1 hit per budget.

  `ranked_texts[qid]` is the texts of the ranked passages (an XOR-Retrieve submission's `ctxs`);
  every counted query must have one.
  """
  tokenizer = _tokenizer(tokenizer)
  out: Outcomes = {}
  for query in queries:
    if not span_answers(query.answers):
      continue
    if query.id not in ranked_texts:
      raise KeyError(f'no ranking for query {query.id!r}')
    out[query.id] = {'lang': query.lang}
    for k, hit in zip(kilo_tokens, hits(ranked_texts[query.id], query.answers, kilo_tokens,
                                        tokenizer)):
      out[query.id][metric_name(k)] = hit
  return out


def aggregate(outcomes: Outcomes, kilo_tokens: Sequence[int] = (2, 5)) -> dict:
  """{'R@2kt': {'ar': .., ..., 'macro': ..}, ..., 'counted': {lang: n}} (scores in percent).

  Raises ValueError when there is no outcome: a macro average of nothing is not 0.
  """
  if not outcomes:
    raise ValueError('no query to evaluate: the set is empty, or no query has an answer that '
                     'R@kt can find in a passage (yes/no answers are not counted)')
  counted: dict[str, int] = {}
  for outcome in outcomes.values():
    counted[outcome['lang']] = counted.get(outcome['lang'], 0) + 1
  out = {'counted': counted}
  for k in kilo_tokens:
    hits: dict[str, int] = {}
    for outcome in outcomes.values():
      hits[outcome['lang']] = hits.get(outcome['lang'], 0) + outcome[metric_name(k)]
    per_lang = {lang: 100.0 * hits[lang] / n for lang, n in counted.items()}
    per_lang['macro'] = float(np.mean(list(per_lang.values())))
    out[metric_name(k)] = per_lang
  return out


def scores(outcomes: Outcomes, metric: str) -> dict[str, float]:
  """Per-query scores of `metric` (e.g. 'R@2kt'): {query id: 100.0 or 0.0}.

  A language's mean is its score in percent; the input `significance.compare` pairs.
  """
  return {qid: 100.0 * outcome[metric] for qid, outcome in outcomes.items()}


def languages_of(outcomes: Outcomes) -> dict[str, str]:
  """{query id: language} of the counted queries."""
  return {qid: outcome['lang'] for qid, outcome in outcomes.items()}


def evaluate(ranking: Mapping[str, Sequence[str]], queries: Sequence[records.Query],
             passage_text: Mapping[str, str], kilo_tokens: Sequence[int] = (2, 5)) -> dict:
  """`aggregate` of the outcomes of `ranking[qid]` (ranked docids, texts in `passage_text`)."""
  counted_ids = {q.id for q in queries if span_answers(q.answers)}
  ranked_texts = {qid: [passage_text[docid] for docid in docids]
                  for qid, docids in ranking.items() if qid in counted_ids}
  return aggregate(query_outcomes(ranked_texts, queries, kilo_tokens), kilo_tokens)
