"""Merging per-shard top-k lists into one global top-k.

Each shard contributes scores [Q, k_s] and the global ids of its hits [Q, k_s]; an id < 0
marks an empty slot (a shard with fewer hits than asked), which always sorts last. Order is
by score, best first, ties to the lower global id, so the merged list does not depend on how
the corpus was sharded or in which order the shards arrive.
"""

from typing import Sequence

import numpy as np


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
  # np.lexsort sorts by its last key first: empty slots last, then score desc, then id asc.
  order = np.lexsort((all_ids, -all_scores, empty), axis=1)[:, :k]
  return (np.take_along_axis(all_scores, order, axis=1),
          np.take_along_axis(all_ids, order, axis=1))
