"""Randomness derived from names, not from call order (independent of process and device counts).

Every random choice about an item derives from (seed, item id, language, sample index, ...), so
outputs do not change with batch size, device count, process count or a resume.
"""

import hashlib

import numpy as np


def stable_hash(*keys) -> int:
  """A 63-bit hash of `keys` (str/int/bytes) that is the same in every process and run.

  Python's `hash()` is salted per process and must never be used for this.
  """
  digest = hashlib.sha256()
  for key in keys:
    if isinstance(key, bytes):
      blob = b'b' + key
    elif isinstance(key, str):
      blob = b's' + key.encode('utf-8')
    elif isinstance(key, (int, np.integer)):
      blob = b'i' + str(int(key)).encode('ascii')
    else:
      raise TypeError(f'stable_hash takes str, int or bytes keys, got {type(key).__name__}')
    digest.update(len(blob).to_bytes(8, 'little') + blob)
  return int.from_bytes(digest.digest()[:8], 'little') >> 1


def numpy_rng(seed: int, *keys) -> np.random.Generator:
  """A NumPy generator determined by `seed` and `keys` alone."""
  return np.random.default_rng([int(seed), stable_hash(*keys)])
