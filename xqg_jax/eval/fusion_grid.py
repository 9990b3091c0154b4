"""Exact-search rankings for a grid of fusion settings, in one pass over the corpus.

A setting is (question source, fusion, alpha, n): the passage embeddings augmented with the
first n questions per language of a source (the xQG generator's, or the oracle's), fused
either the paper's way (`all`: every language of `augment.languages` summed into one vector)
or per query language (`matched`: a query in language L searches passages augmented with
their L questions only, or the plain passages when L is not among `augment.languages`). Since q . p_aug = (1 - alpha) q . p + alpha q . S, with S the sum (or
mean) of the chosen question embeddings, each (source, fusion, n) costs one matmul per shard
and every alpha is a weighted sum of two score matrices. The corpus is read shard by shard and
each setting's hits are merged as they come (`index/merge.py`), so memory is one shard plus
[settings, queries, k] hits. Search is exact: no ANN error blurs a comparison.
"""

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from xqg_jax.augment import fusion as fusion_lib
from xqg_jax.data.formats import embedding_shards
from xqg_jax.index import merge
from xqg_jax.io import progress

BASELINE = 'xdr'  # The ranking of the passage embeddings alone.


@dataclasses.dataclass(frozen=True, order=True)
class Setting:
  """One augmentation: questions of `source`, fused by `fusion` with `alpha`, n per language."""
  source: str
  fusion: str
  alpha: float
  num_queries: int

  def __post_init__(self):
    if self.fusion not in fusion_lib.FUSIONS:
      raise ValueError(f'fusion must be one of {fusion_lib.FUSIONS}, got {self.fusion!r}')
    if not 0.0 <= self.alpha <= 1.0:
      raise ValueError(f'alpha must be in [0, 1], got {self.alpha}')
    if self.num_queries < 1:
      raise ValueError(f'num_queries must be >= 1, got {self.num_queries}')

  @property
  def name(self) -> str:
    return f'{self.source}-{self.fusion}-a{self.alpha:g}-n{self.num_queries}'


def _local_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """Candidates for each row's top `k` of `scores` [Q, P]: (scores, columns), unsorted."""
  k = min(k, scores.shape[1])
  columns = np.argpartition(-scores, k - 1, axis=1)[:, :k]
  return np.take_along_axis(scores, columns, axis=1), columns


class _Hits:
  """Running top-k of one ranking over the shards: [Q, k] scores and global rows."""

  def __init__(self, num_queries: int):
    self.scores = np.zeros((num_queries, 0), np.float32)
    self.rows = np.zeros((num_queries, 0), np.int64)

  def add(self, query_rows: np.ndarray, scores: np.ndarray, offset: int, k: int) -> None:
    local, columns = _local_top_k(scores, k)
    new_scores = np.full((len(self.scores), local.shape[1]), -np.inf, np.float32)
    new_rows = np.full((len(self.scores), local.shape[1]), -1, np.int64)
    new_scores[query_rows], new_rows[query_rows] = local, columns + offset
    self.scores, self.rows = merge.top_k([self.scores, new_scores], [self.rows, new_rows], k)


def rankings(*, corpus_dir, question_dirs: Mapping[str, str], settings: Sequence[Setting],
             query_emb: np.ndarray, query_langs: Sequence[str], augment_languages: Sequence[str],
             reduce: str, k: int) -> dict[str, list[list[str]]]:
  """{setting name (or `BASELINE`): the top-`k` docids of every query}, exact search.

  Args:
    corpus_dir: the passage embedding directory.
    question_dirs: {source: embedding directory of its questions}, sharded like the corpus.
    settings: the settings to rank (sources must be keys of `question_dirs`).
    query_emb: [Q, H] query embeddings.
    query_langs: each query's language (matched fusion routes by it).
    augment_languages: the languages summed by the `all` fusion.
    reduce: 'sum' or 'mean' of the chosen questions.
    k: hits per query.
  """
  if reduce not in fusion_lib.REDUCTIONS:
    raise ValueError(f'reduce must be one of {fusion_lib.REDUCTIONS}, got {reduce!r}')
  query_emb = np.asarray(query_emb, np.float32)
  query_langs = np.asarray(query_langs)
  if len(query_langs) != len(query_emb):
    raise ValueError(f'{len(query_emb)} query embeddings but {len(query_langs)} languages')
  unknown = sorted({s.source for s in settings} - set(question_dirs))
  if unknown:
    raise ValueError(f'settings use question sources {unknown} without an embedding directory')
  hits = {BASELINE: _Hits(len(query_emb))}
  hits.update((s.name, _Hits(len(query_emb))) for s in settings)
  by_lang = {lang: np.flatnonzero(query_langs == lang) for lang in sorted(set(query_langs))}
  num_shards = embedding_shards.num_shards_of(corpus_dir)
  offset, ids = 0, []
  for shard in progress.bar(range(num_shards), desc=f'fusion grid ({len(settings)} settings)',
                            unit='shard'):
    passages, shard_ids = embedding_shards.load_shard(corpus_dir, shard)
    base = query_emb @ passages.T
    hits[BASELINE].add(np.arange(len(query_emb)), base, offset, k)
    for source in sorted({s.source for s in settings}):
      mine = [s for s in settings if s.source == source]
      _add_source(hits, mine, question_dirs[source], shard, shard_ids, base, query_emb, by_lang,
                  tuple(augment_languages), reduce, offset, k)
    ids += shard_ids
    offset += len(shard_ids)
  return {name: [[ids[r] for r in row if r >= 0] for row in h.rows.tolist()]
          for name, h in hits.items()}


def _add_source(hits, settings, questions_dir, shard, passage_ids, base, query_emb, by_lang,
                augment_languages, reduce, offset, k) -> None:
  """Adds one corpus shard's hits of every setting of one question source."""
  matched = [s for s in settings if s.fusion == 'matched']
  matched_langs = tuple(lang for lang in by_lang if matched and lang in augment_languages)
  unmatched = [rows for lang, rows in by_lang.items() if matched and lang not in matched_langs]
  if unmatched:  # No questions in their language: they search the plain passages.
    rows = np.concatenate(unmatched)
    for s in matched:
      hits[s.name].add(rows, base[rows], offset, k)
  langs = tuple(dict.fromkeys(augment_languages + matched_langs))
  n_max = max(s.num_queries for s in settings)
  q_emb, q_ids = embedding_shards.load_shard(questions_dir, shard)
  where = f'shard {shard} of {questions_dir}'
  picks = fusion_lib.question_picks(
      passage_ids, q_ids, fusion_lib.FusionConfig(0.0, reduce, langs, n_max), where)
  picks = picks.reshape(len(passage_ids), len(langs), n_max)
  divide = (lambda n: float(n)) if reduce == 'mean' else (lambda n: 1.0)
  all_sums = np.zeros((n_max, len(passage_ids), q_emb.shape[1]), np.float32)

  def add(fusion, n, rows, summed):
    chosen = [s for s in settings if s.fusion == fusion and s.num_queries == n]
    if not chosen or not len(rows):
      return
    augmented = query_emb[rows] @ summed.T
    for s in chosen:
      hits[s.name].add(rows, (1.0 - s.alpha) * base[rows] + s.alpha * augmented, offset, k)

  for l, lang in enumerate(langs):
    running = np.zeros((len(passage_ids), q_emb.shape[1]), np.float32)
    for i in range(n_max):
      running += q_emb[picks[:, l, i]]
      if lang in augment_languages:
        all_sums[i] += running
      if lang in matched_langs:
        add('matched', i + 1, by_lang[lang], running / divide(i + 1))
  everyone = np.arange(len(query_emb))
  for i in range(n_max):
    add('all', i + 1, everyone, all_sums[i] / divide((i + 1) * len(augment_languages)))
