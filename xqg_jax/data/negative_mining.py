"""Hard negatives mined with BM25: top hits for a question that are not positives and hold no answer.

DPR's rule for its BM25 negatives: a passage that contains an answer string may well answer the
question, so it is never a negative. Answers are matched case-insensitively as substrings of
title and text. A positive is recognised by its id or by its title and text (a DPR file's
passages may carry no corpus id). When BM25 finds too few (a question that shares no word with
the English passages, e.g. Japanese without spaces), random passages fill up, as DPR's own
`negative_ctxs` are random.
"""

import hashlib

from typing import Sequence

import numpy as np

from xqg_jax.data import records
from xqg_jax.lexical import bm25

# Hits searched per negative wanted: room for the positives and answer-bearing passages dropped.
_SEARCH_FACTOR = 4


def mine(index: bm25.BM25, passages: Sequence[records.Passage], question: str,
         answers: Sequence[str], positives: Sequence[records.Passage],
         count: int) -> tuple[tuple[records.Passage, ...], int]:
  """(up to `count` negatives of `question` from `passages`, how many of them are random):
  BM25 hits (`index` holds `passages`) first, then random passages drawn from the question."""
  lowered = [a.lower() for a in answers if a.strip()]
  positive_ids = {p.id for p in positives}
  positive_texts = {(p.title, p.text) for p in positives}

  def allowed(passage):
    content = f'{passage.title} {passage.text}'.lower()
    return not (passage.id in positive_ids or (passage.title, passage.text) in positive_texts
                or any(a in content for a in lowered))

  out = []
  for row, _ in index.search(question, _SEARCH_FACTOR * count + len(positives)):
    if allowed(passages[row]) and len(out) < count:
      out.append(passages[row])
  found = len(out)
  seed = int.from_bytes(hashlib.sha256(question.encode('utf-8')).digest()[:8], 'little')
  chosen = {p.id for p in out}
  for row in np.random.default_rng(seed).permutation(len(passages)):
    if len(out) == count:
      break
    passage = passages[row]
    if passage.id not in chosen and allowed(passage):
      out.append(passage)
      chosen.add(passage.id)
  return tuple(out), len(out) - found
