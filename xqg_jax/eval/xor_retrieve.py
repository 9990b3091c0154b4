"""XOR-Retrieve's R@kt: is an answer in the first k thousand tokens of the ranked passages?

Per query (queries whose answers are all "yes"/"no" are skipped), walk the ranked passages in
order, word-tokenize each passage text (`word_tokenizer`, DPR's SimpleTokenizer rule) and append
its tokens until at least k*1000 are collected; cut to exactly k*1000, join with spaces; the
query is a hit when any non-yes/no answer string is a substring of that text. A language's
score is 100 * hits / counted queries; the macro average is over languages.
"""

from typing import Iterable, Mapping, Sequence

import numpy as np

from xqg_jax.data import records
from xqg_jax.eval import word_tokenizer

YES_NO = ('yes', 'no')


def span_answers(answers: Sequence[str]) -> list[str]:
  return [a for a in answers if a not in YES_NO]


def budget_text(passage_texts: Iterable[str], num_tokens: int) -> str:
  """The first `num_tokens` word tokens of the passages in order, joined with spaces."""
  tokens: list[str] = []
  for text in passage_texts:
    tokens.extend(word_tokenizer.word_tokenize(text))
    if len(tokens) >= num_tokens:
      break
  return ' '.join(tokens[:num_tokens])


def is_hit(passage_texts: Iterable[str], answers: Sequence[str], kilo_tokens: int) -> bool:
  text = budget_text(passage_texts, kilo_tokens * 1000)
  return any(answer in text for answer in span_answers(answers))


def evaluate(ranking: Mapping[str, Sequence[str]], queries: Sequence[records.Query],
             passage_text: Mapping[str, str], kilo_tokens: Sequence[int] = (2, 5)) -> dict:
  """{'R@2kt': {'ar': .., ..., 'macro': ..}, ..., 'counted': {lang: n}} (scores in percent).

  `ranking[qid]` is the ranked docids; every counted query must have one.
  """
  hits = {k: {} for k in kilo_tokens}
  counted: dict[str, int] = {}
  for query in queries:
    if not span_answers(query.answers):
      continue
    if query.id not in ranking:
      raise KeyError(f'no ranking for query {query.id!r}')
    counted[query.lang] = counted.get(query.lang, 0) + 1
    texts = [passage_text[docid] for docid in ranking[query.id]]
    for k in kilo_tokens:
      hits[k][query.lang] = hits[k].get(query.lang, 0) + is_hit(texts, query.answers, k)
  out = {'counted': counted}
  for k in kilo_tokens:
    per_lang = {lang: 100.0 * hits[k].get(lang, 0) / n for lang, n in counted.items()}
    per_lang['macro'] = float(np.mean(list(per_lang.values()))) if per_lang else 0.0
    out[f'R@{k}kt'] = per_lang
  return out
