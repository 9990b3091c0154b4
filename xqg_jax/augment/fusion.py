"""Folding generated-question embeddings into passage embeddings.

`p_aug = (1 - alpha) * E_p(p) + alpha * SUM_{L, i} E_q(q_{L,i})` over the chosen languages L
and the first `num_queries` questions i of each (`reduce='mean'` divides the sum by their
count). Streamed corpus shard by corpus shard: shard s of the generated-question embeddings
holds the questions of corpus shard s (`encode_stage.encode_generated`), so memory is bounded
by one shard. The output is an embedding directory (`data/formats/embedding_shards.py`).
"""

import dataclasses
import time
from typing import Sequence

from absl import logging
from etils import epath
import jax
import ml_collections
import numpy as np

from xqg_jax import languages
from xqg_jax.data.formats import embedding_shards
from xqg_jax.data.formats import generated_questions
from xqg_jax.io import stage_dir
from xqg_jax.parallel import multihost

REDUCTIONS = ('sum', 'mean')
# How generated questions are routed: 'all' languages into one corpus, or per query language.
FUSIONS = ('all', 'matched')


@dataclasses.dataclass(frozen=True)
class FusionConfig:
  alpha: float
  reduce: str
  languages: tuple[str, ...]
  num_queries: int

  def __post_init__(self):
    if self.reduce not in REDUCTIONS:
      raise ValueError(f'augment.reduce must be one of {REDUCTIONS}, got {self.reduce!r}')
    if not 0.0 <= self.alpha <= 1.0:
      raise ValueError(f'augment.alpha must be in [0, 1], got {self.alpha}')
    if self.num_queries < 1:
      raise ValueError(f'augment.num_queries must be >= 1, got {self.num_queries}')
    languages.validate(self.languages)

  @classmethod
  def from_config(cls, augment: ml_collections.ConfigDict) -> 'FusionConfig':
    return cls(float(augment.alpha), augment.reduce, tuple(augment.languages),
               int(augment.num_queries))

  @property
  def name(self) -> str:
    """A directory name that says what was fused."""
    return (f'xqg-{self.reduce}-a{self.alpha:g}-n{self.num_queries}-'
            f'{"".join(self.languages)}')


def fuse(passages: np.ndarray, question_emb: np.ndarray, picks: np.ndarray, alpha: float,
         reduce: str) -> np.ndarray:
  """`(1 - alpha) * passages + alpha * reduce_j(question_emb[picks[:, j]])`: [n, H].

  When the questions are stored passage-major with the chosen ones in a contiguous block (the
  generate stage's layout when all its languages are fused), they are summed through a reshaped
  view; otherwise one column of `picks` is gathered at a time. Memory stays at a few [n, H].
  """
  block = _contiguous_block(picks, len(question_emb))
  if block is not None:
    per_passage, start = block
    view = question_emb.reshape(len(picks), per_passage, -1)[:, start:start + picks.shape[1]]
    pooled = view.sum(axis=1, dtype=np.float32)
  else:
    pooled = np.zeros(passages.shape, np.float32)
    for column in picks.T:
      pooled += question_emb[column]
  if reduce == 'mean':
    pooled /= picks.shape[1]
  return ((1.0 - alpha) * passages + alpha * pooled).astype(np.float32)


def _contiguous_block(picks: np.ndarray, rows: int) -> tuple[int, int] | None:
  """(questions per passage, first column) when passage p's picks are the rows
  `p * per_passage + start + [0, 1, ...]`; else None."""
  n, m = picks.shape
  if n == 0 or rows % n:
    return None
  per_passage, start = rows // n, int(picks[0, 0])
  expected = (np.arange(n)[:, None] * per_passage + start + np.arange(m)[None, :])
  return (per_passage, start) if np.array_equal(picks, expected) else None


def question_picks(passage_ids: Sequence[str], question_ids: Sequence[str],
                   fusion: FusionConfig, where: str) -> np.ndarray:
  """Rows of the chosen questions per passage, [n, len(languages) * num_queries].

  Checks that the questions belong to exactly these passages, in the same order, and that
  each passage has `num_queries` questions in every chosen language; errors name the first
  mismatch. The generate stage's layout (every passage's questions in one order) is checked by
  one comparison of the ids with that layout; anything else is parsed id by id.
  """
  uniform = _uniform_layout(passage_ids, question_ids)
  if uniform is not None:
    per_passage_picks = _parsed_picks(passage_ids[:1], uniform, fusion, where)
    per_passage = len(uniform)
    return np.arange(len(passage_ids))[:, None] * per_passage + per_passage_picks
  return _parsed_picks(passage_ids, question_ids, fusion, where)


def _uniform_layout(passage_ids: Sequence[str], question_ids: Sequence[str]) -> list[str] | None:
  """Passage 0's question ids when every passage has the same questions in the same order,
  passage-major (`question_ids` = passage p's ids for every p in turn); else None."""
  n = len(passage_ids)
  if n == 0 or not question_ids or len(question_ids) % n:
    return None
  per_passage = len(question_ids) // n
  first = list(question_ids[:per_passage])
  head = generated_questions.question_id_prefix(passage_ids[0])
  if not all(q.startswith(head) for q in first):
    return None
  tails = [q[len(head):] for q in first]
  expected = [prefix + tail for prefix in map(generated_questions.question_id_prefix, passage_ids)
              for tail in tails]
  return first if expected == list(question_ids) else None


def _parsed_picks(passage_ids: Sequence[str], question_ids: Sequence[str],
                  fusion: FusionConfig, where: str) -> np.ndarray:
  """`question_picks` for any layout: every id parsed."""
  parts = [generated_questions.parse_question_id(qid) for qid in question_ids]
  docs = np.array([p[0] for p in parts], dtype=object)
  change = np.ones(len(docs), bool)
  change[1:] = docs[1:] != docs[:-1]
  order = docs[change]
  for position, (want, got) in enumerate(zip(passage_ids, order)):
    if want != got:
      raise ValueError(f'{where}: passage {position} is {want!r} but the generated questions '
                       f'there belong to {got!r} (passage and question shards do not align)')
  if len(order) != len(passage_ids):
    extra = (order[len(passage_ids)] if len(order) > len(passage_ids)
             else passage_ids[len(order)])
    raise ValueError(f'{where}: {len(passage_ids)} passages but questions for {len(order)} '
                     f'(first unmatched: {extra!r})')
  num_langs, n = len(fusion.languages), fusion.num_queries
  lang_index = {lang: l for l, lang in enumerate(fusion.languages)}
  passage = np.cumsum(change) - 1
  lang = np.array([lang_index.get(p[1], -1) for p in parts], np.int64)
  index = np.array([p[2] for p in parts], np.int64)
  chosen = (lang >= 0) & (index < n)
  slots = (passage * num_langs + lang) * n + index
  counts = np.bincount(slots[chosen], minlength=len(passage_ids) * num_langs * n)
  if (counts != 1).any():
    slot = int(np.argmax(counts != 1))
    p, rest = divmod(slot, num_langs * n)
    l, i = divmod(rest, n)
    problem = 'no' if counts[slot] == 0 else f'{counts[slot]} copies of'
    raise ValueError(f'{where}: passage {passage_ids[p]!r} has {problem} generated question {i} '
                     f'in {fusion.languages[l]!r} (needs {n} per language in '
                     f'{list(fusion.languages)})')
  picks = np.empty(len(passage_ids) * num_langs * n, np.int64)
  picks[slots[chosen]] = np.flatnonzero(chosen)
  return picks.reshape(len(passage_ids), num_langs * n)


def fuse_shard(corpus_dir, questions_dir, shard: int,
               fusion: FusionConfig) -> tuple[np.ndarray, list[str]]:
  """Shard `shard`'s fused embeddings and passage ids, checked."""
  p_emb, p_ids = embedding_shards.load_shard(corpus_dir, shard)
  q_emb, q_ids = embedding_shards.load_shard(questions_dir, shard)
  where = f'shard {shard} ({corpus_dir} + {questions_dir})'
  if p_emb.shape[1] != q_emb.shape[1]:
    raise ValueError(f'{where}: passage dim {p_emb.shape[1]} != question dim {q_emb.shape[1]}')
  picks = question_picks(p_ids, q_ids, fusion, where)
  return fuse(p_emb, q_emb, picks, fusion.alpha, fusion.reduce), p_ids


def fuse_directory(out_dir, *, corpus_dir, questions_dir, fusion: FusionConfig,
                   inputs: dict) -> epath.Path:
  """Writes the fused corpus embeddings of every shard to `out_dir`; resumable per shard."""
  out_dir = epath.Path(out_dir)
  num_shards = embedding_shards.num_shards_of(corpus_dir)
  if embedding_shards.num_shards_of(questions_dir) != num_shards:
    raise ValueError(f'{corpus_dir} has {num_shards} shards but {questions_dir} has '
                     f'{embedding_shards.num_shards_of(questions_dir)}')
  stage_config = {**dataclasses.asdict(fusion), 'num_shards': num_shards}
  if stage_dir.is_done(out_dir, config=stage_config, inputs=inputs):
    return out_dir
  multihost.begin_shards(out_dir, config=stage_config, inputs=inputs)
  for shard in multihost.process_shards(num_shards):
    ids_path = out_dir / embedding_shards.shard_name('ids', shard, num_shards, 'txt')
    if ids_path.exists():
      continue
    began = time.perf_counter()
    fused, ids = fuse_shard(corpus_dir, questions_dir, shard, fusion)
    embedding_shards.write_shard(out_dir, shard, num_shards, fused, ids)
    logging.vlog(1, 'fuse: shard %d/%d, %d passages in %.2f s', shard + 1, num_shards, len(ids),
                 time.perf_counter() - began)
  multihost.barrier(f'fused:{out_dir}')
  if jax.process_index() == 0:
    embedding_shards.finish(out_dir, num_shards, stage_name='fuse', stage_config=stage_config,
                            inputs=inputs, extra={})
  return out_dir


def fuse_routing(out_root, *, fusion: str, alpha: float, num_queries: int, reduce: str,
                 languages: Sequence[str], query_languages: Sequence[str], corpus_dir,
                 questions_dir, inputs: dict) -> dict[str, str]:
  """The fused corpora of one setting as a routing {query language or '*': directory}.

  `fusion='all'` (the paper): one corpus augmented with the questions of every language in
  `languages`, searched by every query. `fusion='matched'`: per query language L in
  `languages`, a corpus augmented with the L questions only; a query language outside
  `languages` has no questions to match and searches the plain corpus. Each fused corpus is
  `out_root/{FusionConfig.name}`.
  """
  routing = {}
  if fusion == 'all':
    configs = {'*': FusionConfig(alpha, reduce, tuple(languages), num_queries)}
  elif fusion == 'matched':
    configs = {lang: FusionConfig(alpha, reduce, (lang,), num_queries)
               for lang in query_languages if lang in languages}
    routing = {lang: str(corpus_dir) for lang in query_languages if lang not in languages}
  else:
    raise ValueError(f'fusion must be one of {FUSIONS}, got {fusion!r}')
  for key, c in configs.items():
    routing[key] = str(fuse_directory(epath.Path(out_root) / c.name, corpus_dir=corpus_dir,
                                      questions_dir=questions_dir, fusion=c, inputs=inputs))
  return routing
