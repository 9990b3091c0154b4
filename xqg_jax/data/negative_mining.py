"""Hard negatives mined with BM25: top hits for a question that are not positives and hold no answer.

DPR's rule for its BM25 negatives: a passage that contains an answer string may well answer the
question, so it is never a negative. Answers are matched case-insensitively as substrings of
title and text. A positive is recognised by its id or by its title and text (a DPR file's
passages may carry no corpus id).
"""

from typing import Sequence

from xqg_jax.data import records
from xqg_jax.lexical import bm25

# Hits searched per negative wanted: room for the positives and answer-bearing passages dropped.
_SEARCH_FACTOR = 4


def mine(index: bm25.BM25, passages: Sequence[records.Passage], question: str,
         answers: Sequence[str], positives: Sequence[records.Passage],
         count: int) -> tuple[records.Passage, ...]:
  """Up to `count` BM25 negatives of `question` from `passages` (indexed by `index`)."""
  lowered = [a.lower() for a in answers if a.strip()]
  positive_ids = {p.id for p in positives}
  positive_texts = {(p.title, p.text) for p in positives}
  out = []
  for row, _ in index.search(question, _SEARCH_FACTOR * count + len(positives)):
    passage = passages[row]
    content = f'{passage.title} {passage.text}'.lower()
    if (passage.id in positive_ids or (passage.title, passage.text) in positive_texts
        or any(a in content for a in lowered)):
      continue
    out.append(passage)
    if len(out) == count:
      break
  return tuple(out)
