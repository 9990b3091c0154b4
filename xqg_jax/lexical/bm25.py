"""BM25 (Robertson, Lucene's idf) over word tokens: the lexical baseline.

Pyserini's defaults k1=0.9, b=0.4. An in-memory inverted index for corpora that fit in RAM
(the synthetic benchmark's statistics); not a replacement for Lucene at 18M passages.
"""

import collections
from typing import Sequence

import numpy as np

from xqg_jax.lexical import word_tokenizer


class BM25:
  """An inverted index over `texts`; `search` returns the top-k (index, score) pairs."""

  def __init__(self, texts: Sequence[str], k1: float = 0.9, b: float = 0.4):
    self.k1, self.b = k1, b
    postings: dict[str, dict[int, int]] = collections.defaultdict(dict)
    lengths = np.zeros(len(texts), dtype=np.float32)
    for doc, text in enumerate(texts):
      tokens = word_tokenizer.word_tokenize_lower(text)
      lengths[doc] = len(tokens)
      for term, tf in collections.Counter(tokens).items():
        postings[term][doc] = tf
    self.num_docs = len(texts)
    self._norm = k1 * (1 - b + b * lengths / max(float(lengths.mean()), 1e-9))
    self._postings = {term: (np.fromiter(p.keys(), np.int64, len(p)),
                             np.fromiter(p.values(), np.float32, len(p)))
                      for term, p in postings.items()}

  def idf(self, term: str) -> float:
    df = len(self._postings[term][0]) if term in self._postings else 0
    return float(np.log(1 + (self.num_docs - df + 0.5) / (df + 0.5)))

  def scores(self, query: str) -> np.ndarray:
    """BM25 score of every document for `query` (repeated query terms count once each)."""
    out = np.zeros(self.num_docs, dtype=np.float32)
    for term in word_tokenizer.word_tokenize_lower(query):
      if term not in self._postings:
        continue
      docs, tf = self._postings[term]
      out[docs] += self.idf(term) * tf * (self.k1 + 1) / (tf + self._norm[docs])
    return out

  def search(self, query: str, k: int) -> list[tuple[int, float]]:
    """Top-`k` documents by score, ties broken by document index; zero scores dropped."""
    scores = self.scores(query)
    order = np.lexsort((np.arange(self.num_docs), -scores))[:k]
    return [(int(i), float(scores[i])) for i in order if scores[i] > 0]
