"""Exact maximum inner product search on device: chunked matmul, local top-k, running merge.

The reference every approximate index is measured against. Each step scores one chunk of
`chunk_size` corpus rows per device of the mesh's 'data' axis: every device keeps a local
top-k of its chunk, and only those [Q, devices * k] candidates meet in the global merge into
the running top-k. Memory per device is bounded by [Q, chunk_size] scores. Every device's
chunk has the same shape whatever the device count (the last step is padded), so each score
is computed by the same kernel and the result is identical on 1 or 8 devices; ties go to the
lower corpus row."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from xqg_jax.parallel import mesh as mesh_lib

P = jax.sharding.PartitionSpec


def _local_top_k(queries, chunk, start, valid, *, k: int):
  """One device's top-`k` of its rows of a chunk: ([Q, 1, k] scores, [Q, 1, k] corpus rows)."""
  rows = chunk.shape[0]
  first = start + jax.lax.axis_index('data') * rows
  scores = queries @ chunk.T
  row = first + jnp.arange(rows, dtype=jnp.int32)
  scores = jnp.where(row < start + valid, scores, -jnp.inf)  # Padding rows never win.
  top, pos = jax.lax.top_k(scores, min(k, rows))
  return top[:, None], row[pos][:, None]


@functools.partial(jax.jit, static_argnames=('k', 'mesh'))
def _merge_chunk(best_scores, best_index, queries, chunk, start, valid, *, k: int,
                 mesh: jax.sharding.Mesh):
  """Merges the top-`k` of `chunk` (corpus rows `start`.., the first `valid` real) into best."""
  local = jax.shard_map(functools.partial(_local_top_k, k=k), mesh=mesh,
                        in_specs=(P(), P('data'), P(), P()),
                        out_specs=(P(None, 'data'), P(None, 'data')))
  local_scores, local_index = local(queries, chunk, start, valid)
  # Device-major flattening keeps tied candidates in row order; top_k prefers the earlier one.
  q = queries.shape[0]
  scores = jnp.concatenate([best_scores, local_scores.reshape(q, -1)], axis=1)
  index = jnp.concatenate([best_index, local_index.reshape(q, -1)], axis=1)
  top, pos = jax.lax.top_k(scores, k)
  return top, jnp.take_along_axis(index, pos, axis=1)


def search(queries: np.ndarray, corpus: np.ndarray, k: int, chunk_size: int = 65536,
           mesh: jax.sharding.Mesh | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Top-`k` (scores, corpus row indices) per query by inner product, best first.

  Args:
    queries: [Q, H] float32.
    corpus: [N, H] float32 (a memory-mapped array is read one chunk at a time).
    k: hits per query; more than N gives N.
    chunk_size: corpus rows scored per device and step (fewer if the corpus is smaller).
    mesh: devices to split each chunk over along its 'data' axis (None: the default device).

  Returns:
    float32 [Q, min(k, N)] scores and int32 [Q, min(k, N)] row indices.
  """
  if queries.ndim != 2 or corpus.ndim != 2:
    raise ValueError(f'queries {queries.shape} and corpus {corpus.shape} must be 2-D')
  if queries.shape[1] != corpus.shape[1]:
    raise ValueError(f'query dim {queries.shape[1]} != corpus dim {corpus.shape[1]}')
  if corpus.shape[0] == 0:
    raise ValueError('empty corpus')
  if mesh is None:
    mesh = mesh_lib.create_mesh((('data', 1),), jax.devices()[:1])
  shards = mesh.shape['data']
  n, k = corpus.shape[0], min(k, corpus.shape[0])
  chunk_rows = min(chunk_size, n) * shards
  replicated = jax.sharding.NamedSharding(mesh, P())
  split = jax.sharding.NamedSharding(mesh, P('data'))
  q = jax.device_put(np.asarray(queries, np.float32), replicated)
  best_scores = jax.device_put(np.full((q.shape[0], k), -np.inf, np.float32), replicated)
  best_index = jax.device_put(np.full((q.shape[0], k), -1, np.int32), replicated)
  for start in range(0, n, chunk_rows):
    chunk = np.asarray(corpus[start:start + chunk_rows], np.float32)
    valid = chunk.shape[0]
    if valid < chunk_rows:  # One shape for every chunk: one compilation.
      chunk = np.pad(chunk, ((0, chunk_rows - valid), (0, 0)))
    chunk = jax.device_put(chunk, split)
    best_scores, best_index = _merge_chunk(best_scores, best_index, q, chunk,
                                           np.int32(start), np.int32(valid), k=k, mesh=mesh)
  return np.asarray(best_scores), np.asarray(best_index)
