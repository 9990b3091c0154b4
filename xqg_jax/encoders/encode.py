"""Encoding texts to embedding shards: `emb-00003-of-00008.npy` + `ids-00003-of-00008.txt`.

The records are split into `num_shards` contiguous ranges; process p encodes shards p, p+P, ...
(embarrassingly parallel: each process uses only its local devices, batches sharded over their
data axis). Within a shard, length bucketing cuts padding; rows are put back in record order
before writing. A shard is complete once its ids file exists (written atomically after the
embeddings), so an interrupted run redoes only unfinished shards. `meta.json` and the manifest
are written by process 0 once every shard exists.
"""

import json
import time
from typing import Any, Callable, Sequence

from absl import logging
from etils import epath
from flax import linen as nn
import jax
import numpy as np

from xqg_jax.data import pipeline
from xqg_jax.io import atomic
from xqg_jax.io import stage
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import multihost
from xqg_jax.parallel import partitioning
from xqg_jax.parallel import xla_options

META_JSON = 'meta.json'


def shard_name(kind: str, index: int, count: int, suffix: str) -> str:
  return f'{kind}-{index:05d}-of-{count:05d}.{suffix}'


class _Slice:
  """A contiguous view [start, stop) of a random-access source."""

  def __init__(self, source, start: int, stop: int):
    self._source, self._start, self._len = source, start, stop - start

  def __len__(self) -> int:
    return self._len

  def __getitem__(self, index: int):
    if not 0 <= index < self._len:
      raise IndexError(index)
    return self._source[self._start + index]


def shard_ranges(num_records: int, num_shards: int) -> list[tuple[int, int]]:
  """Balanced contiguous [start, stop) ranges, one per shard."""
  bounds = np.linspace(0, num_records, num_shards + 1).round().astype(int)
  return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def encode(directory, *, source, text_fn: Callable[[Any], str], id_fn: Callable[[Any], str],
           tokenizer, embed_fn: Callable, params, param_shardings_fn: Callable, mesh_spec,
           devices, rules, max_len: int, batch_size: int, buckets: Sequence[int], num_shards: int,
           stage_config: dict, inputs: dict,
           ranges: Sequence[tuple[int, int]] | None = None) -> epath.Path:
  """Encodes every record of `source` into `directory`; returns it.

  `embed_fn(params, batch) -> [B, H]` is the jitted-able tower; `param_shardings_fn(mesh)`
  gives the params' shardings on the mesh over `devices` (None: this process's devices).
  `ranges` gives each shard's `[start, stop)` of `source` (default: `num_shards` balanced).
  """
  directory = epath.Path(directory)
  if stage.is_done(directory, config=stage_config, inputs=inputs):
    return directory
  multihost.begin_shards(directory, config=stage_config, inputs=inputs)
  mesh = mesh_lib.create_mesh(mesh_spec, devices=devices or jax.local_devices())
  params = jax.device_put(params, param_shardings_fn(mesh))
  jitted = jax.jit(embed_fn, compiler_options=xla_options.encoder_options())
  ranges = list(ranges or shard_ranges(len(source), num_shards))
  if len(ranges) != num_shards:
    raise ValueError(f'{len(ranges)} shard ranges for {num_shards} shards')
  stats = {'truncated': 0, 'rows': 0}
  for shard in multihost.process_shards(num_shards):
    ids_path = directory / shard_name('ids', shard, num_shards, 'txt')
    if ids_path.exists():
      continue
    start, stop = ranges[shard]
    records = _Slice(source, start, stop)
    order = {id_fn(records[i]): i for i in range(len(records))}
    emb = None
    began = time.perf_counter()
    batches = pipeline.encode_batches(records, tokenizer, text_fn=text_fn, id_fn=id_fn,
                                      max_len=max_len, batch_size=batch_size, buckets=buckets)
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      for batch in batches:
        arrays = {k: batch[k] for k in ('input_ids', 'attention_mask', 'token_type_ids')
                  if k in batch}
        out = np.asarray(jitted(params, partitioning.shard_host_batch(arrays, mesh, rules)))
        if emb is None:
          emb = np.zeros((len(records), out.shape[-1]), np.float32)
        valid = batch['valid']
        rows = [order[i] for i in batch['ids'][valid]]
        emb[rows] = out[valid]
        stats['truncated'] += int(batch['truncated'][valid].sum())
        stats['rows'] += int(valid.sum())
    if emb is None:
      raise ValueError(f'shard {shard} of {directory} has no records ({start}..{stop})')
    with atomic.atomic_open(directory / shard_name('emb', shard, num_shards, 'npy'), 'wb',
                            encoding=None) as f:
      np.save(f, emb, allow_pickle=False)
    ids = [id_fn(records[i]) for i in range(len(records))]
    atomic.write_text(ids_path, ''.join(f'{i}\n' for i in ids))
    seconds = time.perf_counter() - began
    logging.info('%s: shard %d/%d, %d rows in %.1f s (%.0f rows/s)', directory.name, shard + 1,
                 num_shards, len(records), seconds, len(records) / max(seconds, 1e-9))
  multihost.barrier(f'encoded:{directory}')
  if jax.process_index() == 0:
    finish(directory, num_shards, stage_name=f'encode_{directory.name}',
           stage_config=stage_config, inputs=inputs, extra={'this_process': stats})
  multihost.barrier(f'finished:{directory}')  # No process returns before the manifest exists.
  return directory


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

  stage.run(directory, stage=stage_name, config=stage_config, inputs=inputs, produce=produce,
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
  """Shard `shard` of an embedding directory: ([n, H] float32, its n ids), checked."""
  directory = epath.Path(directory)
  meta = json.loads((directory / META_JSON).read_text())
  n = meta['num_shards']
  path = directory / shard_name('emb', shard, n, 'npy')
  with path.open('rb') as f:  # A file object: np.load opens only local paths.
    emb = np.load(f, allow_pickle=False)
  ids = (directory / shard_name('ids', shard, n, 'txt')).read_text().splitlines()
  if emb.ndim != 2 or len(ids) != emb.shape[0] or emb.shape[1] != meta['dim']:
    raise ValueError(f'{path}: {emb.shape} embeddings for {len(ids)} ids '
                     f'(dim {meta["dim"]} expected)')
  if not ids:
    raise ValueError(f'{path}: empty shard (no embeddings); every shard must hold rows')
  return emb, ids


def load(directory) -> tuple[np.ndarray, list[str]]:
  """All shards of an embedding directory, concatenated: ([N, H] float32, ids)."""
  shards = [load_shard(directory, s) for s in range(num_shards_of(directory))]
  return (np.concatenate([emb for emb, _ in shards]),
          [i for _, ids in shards for i in ids])
