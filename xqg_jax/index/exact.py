"""Exact maximum inner product search on device: chunked matmul, local top-k, running merge.

The reference every approximate index is measured against. Memory is bounded by one corpus
chunk of scores ([Q, chunk]) plus the running top-k.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np


@functools.partial(jax.jit, static_argnames='k')
def _merge_chunk(best_scores, best_index, queries, chunk, offset, k: int):
  scores = queries @ chunk.T
  local_scores, local_index = jax.lax.top_k(scores, min(k, chunk.shape[0]))
  scores = jnp.concatenate([best_scores, local_scores], axis=1)
  index = jnp.concatenate([best_index, local_index + offset], axis=1)
  top, pos = jax.lax.top_k(scores, k)
  return top, jnp.take_along_axis(index, pos, axis=1)


def search(queries: np.ndarray, corpus: np.ndarray, k: int,
           chunk_size: int = 65536) -> tuple[np.ndarray, np.ndarray]:
  """Top-`k` (scores, corpus row indices) per query by inner product, best first."""
  if queries.shape[1] != corpus.shape[1]:
    raise ValueError(f'query dim {queries.shape[1]} != corpus dim {corpus.shape[1]}')
  k = min(k, corpus.shape[0])
  q = jnp.asarray(queries, jnp.float32)
  best_scores = jnp.full((q.shape[0], k), -jnp.inf, jnp.float32)
  best_index = jnp.full((q.shape[0], k), -1, jnp.int32)
  for start in range(0, corpus.shape[0], chunk_size):
    chunk = jnp.asarray(corpus[start:start + chunk_size], jnp.float32)
    best_scores, best_index = _merge_chunk(best_scores, best_index, q, chunk,
                                           jnp.int32(start), k)
  return np.asarray(best_scores), np.asarray(best_index)
