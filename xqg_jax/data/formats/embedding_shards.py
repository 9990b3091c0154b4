"""The embedding-shard format: `emb-00003-of-00008.npy` + `ids-00003-of-00008.txt` + `meta.json`.

Row i of shard s's `[n, H]` float32 array is the embedding of line i of its ids file. A shard
is complete once its ids file exists (written atomically after the embeddings), so a writer
that stops part-way redoes only unfinished shards. `meta.json` (kind, dim, dtype, num_shards
and the writer's settings) and the manifest are written once every shard exists.
"""

import json
import os

from absl import logging
from etils import epath
import numpy as np

from xqg_jax.io import atomic
from xqg_jax.io import stage_dir

META_JSON = 'meta.json'


def shard_name(kind: str, index: int, count: int, suffix: str) -> str:
  return f'{kind}-{index:05d}-of-{count:05d}.{suffix}'


def shard_ranges(num_records: int, num_shards: int) -> list[tuple[int, int]]:
  """Balanced contiguous [start, stop) ranges, one per shard."""
  bounds = np.linspace(0, num_records, num_shards + 1).round().astype(int)
  return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def write_shard(directory, shard: int, num_shards: int, emb: np.ndarray,
                ids: list[str]) -> None:
  """Writes shard `shard`: its embeddings first, then (marking it complete) its ids."""
  directory = epath.Path(directory)
  with atomic.atomic_open(directory / shard_name('emb', shard, num_shards, 'npy'), 'wb',
                          encoding=None) as f:
    np.save(f, emb, allow_pickle=False)
  atomic.write_text(directory / shard_name('ids', shard, num_shards, 'txt'),
                    ''.join(f'{i}\n' for i in ids))


def finish(directory, num_shards: int, *, stage_name: str, stage_config: dict, inputs: dict,
           extra: dict) -> None:
  """Writes `meta.json` and the manifest once all shards of `directory` exist (process 0)."""
  directory = epath.Path(directory)
  missing = [s for s in range(num_shards)
             if not (directory / shard_name('ids', s, num_shards, 'txt')).exists()]
  if missing:
    logging.info('%s: waiting for shards %s from other processes', directory, missing)
    return
  shape, dtype = _npy_header(directory / shard_name('emb', 0, num_shards, 'npy'))
  meta = {'kind': 'exact', 'dim': int(shape[1]), 'dtype': str(dtype),  # searchable as it is
          'num_shards': num_shards, **stage_config}
  atomic.write_text(directory / META_JSON, json.dumps(meta, indent=1) + '\n')

  def produce(d):
    names = [shard_name(kind, s, num_shards, ext) for s in range(num_shards)
             for kind, ext in (('emb', 'npy'), ('ids', 'txt'))]
    return names + [META_JSON], extra

  stage_dir.run(directory, stage=stage_name, config=stage_config, inputs=inputs, produce=produce,
            force=True)


def _npy_header(path: epath.Path) -> tuple[tuple[int, ...], np.dtype]:
  """(shape, dtype) of a `.npy` file from its header alone (local or `gs://`)."""
  with path.open('rb') as f:
    version = np.lib.format.read_magic(f)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}[version]
    shape, _, dtype = read_header(f)
  return shape, dtype


def num_shards_of(directory) -> int:
  """The shard count of a finished embedding directory (from its `meta.json`)."""
  path = epath.Path(directory) / META_JSON
  if not path.exists():
    raise FileNotFoundError(f'{path}: missing; {directory} is not a finished embedding directory')
  return json.loads(path.read_text())['num_shards']


def load_shard(directory, shard: int) -> tuple[np.ndarray, list[str]]:
  """Shard `shard` of an embedding directory: ([n, H] float32, its n ids), checked (shapes,
  ids, every value finite).

  A local shard is memory-mapped read-only (its pages come from the page cache, and a private
  copy is made only of what the caller changes); a remote one (`gs://`) is read.
  """
  directory = epath.Path(directory)
  meta = json.loads((directory / META_JSON).read_text())
  n = meta['num_shards']
  path = directory / shard_name('emb', shard, n, 'npy')
  for needed in (path, directory / shard_name('ids', shard, n, 'txt')):
    if not needed.exists():
      raise FileNotFoundError(f'{needed} is missing: {directory} is incomplete; run the stage '
                              'that wrote it again (its manifest no longer verifies)')
  if '://' in os.fspath(path):
    with path.open('rb') as f:  # A file object: np.load opens only local paths.
      emb = np.load(f, allow_pickle=False)
  else:
    emb = np.asarray(np.load(os.fspath(path), mmap_mode='r', allow_pickle=False))
  ids = (directory / shard_name('ids', shard, n, 'txt')).read_text().splitlines()
  if emb.ndim != 2 or len(ids) != emb.shape[0] or emb.shape[1] != meta['dim']:
    raise ValueError(f'{path}: {emb.shape} embeddings for {len(ids)} ids '
                     f'(dim {meta["dim"]} expected)')
  if not ids:
    raise ValueError(f'{path}: empty shard (no embeddings); every shard must hold rows')
  row = first_non_finite_row(emb)
  if row is not None:  # NaN or inf would score as a silent miss, or poison a fused vector
    raise ValueError(f'{path}: embedding of {ids[row]!r} (row {row}) is not finite')
  return emb, ids


def first_non_finite_row(emb: np.ndarray, chunk_rows: int = 4096) -> int | None:
  """The first row of `emb` holding NaN or inf, or None; checked in chunks of rows so that the
  boolean temporary stays small (a whole-array `isfinite` of a 1 GB shard costs more in page
  faults than the check itself)."""
  for start in range(0, len(emb), chunk_rows):
    bad = ~np.isfinite(emb[start:start + chunk_rows]).all(axis=1)
    if bad.any():
      return start + int(np.argmax(bad))
  return None


def load(directory) -> tuple[np.ndarray, list[str]]:
  """All shards of an embedding directory, concatenated: ([N, H] float32, ids)."""
  shards = [load_shard(directory, s) for s in range(num_shards_of(directory))]
  return (np.concatenate([emb for emb, _ in shards]),
          [i for _, ids in shards for i in ids])
