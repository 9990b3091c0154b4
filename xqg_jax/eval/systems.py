"""Retrieval systems: which passage embeddings a query of each language searches.

xDR searches the corpus embeddings; xDR+xQG fused the paper's way searches one augmented
corpus; with language-matched fusion a query in language L searches the corpus augmented with
its L questions only. A system is that routing, `{language: embedding directory}` with '*' for
every language, and search runs each language's queries against its own index.
"""

import dataclasses
from typing import Callable, Mapping, Sequence

import numpy as np

ANY_LANGUAGE = '*'


@dataclasses.dataclass(frozen=True)
class System:
  """A named routing of query languages to passage embedding directories."""
  name: str
  corpora: Mapping[str, str]

  def __post_init__(self):
    if not self.corpora:
      raise ValueError(f'system {self.name!r} routes no language to a corpus')

  def corpus(self, lang: str) -> str:
    """The embedding directory that queries in `lang` search."""
    if lang in self.corpora:
      return self.corpora[lang]
    if ANY_LANGUAGE in self.corpora:
      return self.corpora[ANY_LANGUAGE]
    raise ValueError(f'system {self.name!r} has no corpus for queries in {lang!r} (it routes '
                     f'{sorted(self.corpora)})')

  def to_dict(self) -> dict:
    return {'name': self.name, 'corpora': dict(self.corpora)}

  @classmethod
  def from_dict(cls, data: Mapping) -> 'System':
    return cls(data['name'], dict(data['corpora']))


def routed_search(system: System, query_emb: np.ndarray, query_langs: Sequence[str],
                  search_fn: Callable[[str, np.ndarray], tuple[np.ndarray, list[list[str]]]]
                  ) -> tuple[np.ndarray, list[list[str]]]:
  """Searches each language's queries with `search_fn(corpus key, queries)`; results in query
  order; languages that share a directory are searched in one call. `search_fn` returns (scores [n, k], docids per query) for one corpus key of
  `system.corpora` (an index built from that corpus, or the embeddings themselves)."""
  query_langs = np.asarray(query_langs)
  if len(query_langs) != len(query_emb):
    raise ValueError(f'{len(query_emb)} query embeddings but {len(query_langs)} languages')
  by_corpus = {}  # Languages routed to one directory are searched together, once.
  for lang in sorted(set(query_langs.tolist())):
    by_corpus.setdefault(system.corpus(lang), []).append(lang)
  scores, docids = None, [None] * len(query_emb)
  for corpus in sorted(by_corpus):
    langs = by_corpus[corpus]
    rows = np.flatnonzero(np.isin(query_langs, langs))
    part_scores, part_docids = search_fn(_key(system, langs[0]), query_emb[rows])
    if scores is None:
      scores = np.full((len(query_emb), part_scores.shape[1]), -np.inf, np.float32)
    scores[rows] = part_scores
    for row, ids in zip(rows.tolist(), part_docids):
      docids[row] = ids
  if scores is None:
    return np.zeros((0, 0), np.float32), []
  return scores, docids


def _key(system: System, lang: str) -> str:
  return lang if lang in system.corpora else ANY_LANGUAGE
