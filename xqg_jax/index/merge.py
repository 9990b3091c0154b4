"""Merging per-shard top-k lists into one global top-k.

Each shard contributes scores [Q, k_s] and the global ids of its hits [Q, k_s]; an id < 0
marks an empty slot (a shard with fewer hits than asked), which always sorts last. Order is
by score, best first, ties to the lower global id, so the merged list does not depend on how
the corpus was sharded or in which order the shards arrive.
"""

from typing import Sequence

import numpy as np


_MAX_ID = 2 ** 31 - 1


def _ascending_int(values: np.ndarray) -> np.ndarray:
  """int64 keys in the order of float32 `values` (IEEE bits, negatives flipped; + 0.0 makes
  -0.0 equal to 0.0, as comparisons have it)."""
  bits = (values.astype(np.float32) + np.float32(0.0)).view(np.int32).astype(np.int64)
  return np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)


def top_k(scores: Sequence[np.ndarray], ids: Sequence[np.ndarray],
          k: int) -> tuple[np.ndarray, np.ndarray]:
  """The global top-`k` of the shards' hit lists: (float32 [Q, k'], int64 [Q, k']).

  k' = min(k, total slots); trailing empty slots (id -1, score -inf) remain when the shards
  together hold fewer than k' real hits.
  """
  if len(scores) != len(ids) or not scores:
    raise ValueError(f'{len(scores)} score arrays for {len(ids)} id arrays (need >= 1 each)')
  for s, i in zip(scores, ids):
    if s.shape != i.shape or s.ndim != 2 or s.shape[0] != scores[0].shape[0]:
      raise ValueError(f'shard hits of shapes {s.shape} (scores) / {i.shape} (ids) do not '
                       f'match [Q={scores[0].shape[0]}, k_s]')
  all_scores = np.concatenate(scores, axis=1).astype(np.float32)
  all_ids = np.concatenate(ids, axis=1).astype(np.int64)
  empty = all_ids < 0
  all_scores[empty] = -np.inf
  if all_ids.max(initial=0) >= _MAX_ID:
    raise ValueError(f'ids must be below {_MAX_ID}, got {all_ids.max()}')
  # One int64 key per slot: score descending in the high 32 bits, then id ascending (empty
  # slots, id -1 and score -inf, after any real hit of score -inf).
  key = (_ascending_int(-all_scores) << 32) | np.where(empty, _MAX_ID, all_ids)
  k = min(k, key.shape[1])
  if 0 < k < key.shape[1]:
    part = np.argpartition(key, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(part, np.argsort(np.take_along_axis(key, part, 1), 1), 1)
  else:
    order = np.argsort(key, axis=1)[:, :k]
  return (np.take_along_axis(all_scores, order, axis=1),
          np.take_along_axis(all_ids, order, axis=1))
