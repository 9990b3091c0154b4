"""Seeded k-means (squared L2, Lloyd's iterations) for the partitions of a ScaNN tree.

ScaNN's own k-means training is not reproducible: with the same rows, the same
`clustering_seed` and one training thread, two builds give different centers. Ours is a plain
NumPy function of (rows, seed), so the same rows and config give the same partitions in
every process and run.
"""

import numpy as np

from xqg_jax.io import progress

# Rows scored against the centers per matrix product (bounds memory at N x num_centers).
CHUNK_ROWS = 65_536


def nearest_center(rows: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(int32 [N] index of the nearest center, float32 [N] squared distance to it).

  Ties go to the lowest center index.
  """
  center_norms = np.einsum('kd,kd->k', centers, centers)
  nearest = np.empty(rows.shape[0], np.int32)
  distance = np.empty(rows.shape[0], np.float32)
  for begin in range(0, rows.shape[0], CHUNK_ROWS):
    chunk = rows[begin:begin + CHUNK_ROWS]
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is the same for every center of a row.
    partial = center_norms[None, :] - 2.0 * (chunk @ centers.T)
    best = np.argmin(partial, axis=1)
    nearest[begin:begin + len(chunk)] = best
    distance[begin:begin + len(chunk)] = np.maximum(
        partial[np.arange(len(chunk)), best] + np.einsum('nd,nd->n', chunk, chunk), 0.0)
  return nearest, distance


def train(sample: np.ndarray, num_centers: int, iterations: int,
          rng: np.random.Generator) -> np.ndarray:
  """float32 [num_centers, H] centers of `sample` [N, H] after `iterations` Lloyd steps.

  Starts from `num_centers` distinct sample rows drawn by `rng`. A center left without rows
  moves to the row farthest from its own center (each such center to a different row).
  """
  sample = np.ascontiguousarray(sample, np.float32)
  if not 1 <= num_centers <= sample.shape[0]:
    raise ValueError(f'k-means: {num_centers} centers for {sample.shape[0]} rows')
  centers = sample[np.sort(rng.choice(sample.shape[0], num_centers, replace=False))].copy()
  for _ in progress.bar(range(iterations), desc=f'k-means {num_centers} centers',
                        unit='iteration'):
    nearest, distance = nearest_center(sample, centers)
    counts = np.bincount(nearest, minlength=num_centers)
    filled = counts > 0
    order = np.argsort(nearest, kind='stable')
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[filled]
    sums = np.add.reduceat(sample[order].astype(np.float64), starts, axis=0)
    centers[filled] = (sums / counts[filled, None]).astype(np.float32)
    empty = np.flatnonzero(~filled)
    if len(empty):
      farthest = np.argsort(-distance, kind='stable')[:len(empty)]
      centers[empty] = sample[farthest]
  return centers
