"""Encoding texts to embedding shards (`data/formats/embedding_shards.py`) with a tower.

The records are split into `num_shards` contiguous ranges; process p encodes shards p, p+P, ...
(embarrassingly parallel: each process uses only its local devices, batches sharded over their
data axis). Within a shard, length bucketing cuts padding; rows are put back in record order
before writing. An interrupted run redoes only unfinished shards; process 0 writes `meta.json`
and the manifest once every shard exists.
"""

import time
from typing import Any, Callable, Sequence

from absl import logging
from etils import epath
from flax import linen as nn
import jax
import numpy as np

from xqg_jax.data import pipeline
from xqg_jax.data.formats import embedding_shards
from xqg_jax.io import progress
from xqg_jax.io import stage_dir
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import multihost
from xqg_jax.parallel import partitioning


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


def encode(directory, *, source, text_fn: Callable[[Any], str], id_fn: Callable[[Any], str],
           tokenizer, embed_fn: Callable, params, param_shardings_fn: Callable, mesh_spec,
           devices, rules, max_len: int, batch_size: int, buckets: Sequence[int], num_shards: int,
           stage_config: dict, inputs: dict,
           ranges: Sequence[tuple[int, int]] | None = None,
           compiler_options: dict | None = None) -> epath.Path:
  """Encodes every record of `source` into `directory`; returns it.

  `embed_fn(params, batch) -> [B, H]` is the jitted-able tower; `param_shardings_fn(mesh)`
  gives the params' shardings on the mesh over `devices` (None: this process's devices).
  `ranges` gives each shard's `[start, stop)` of `source` (default: `num_shards` balanced);
  `compiler_options` are XLA's for the tower (`xla_options.for_backend`; None: XLA's own).
  """
  directory = epath.Path(directory)
  if stage_dir.is_done(directory, config=stage_config, inputs=inputs):
    return directory
  multihost.begin_shards(directory, config=stage_config, inputs=inputs)
  mesh = mesh_lib.create_mesh(mesh_spec, devices=devices or jax.local_devices())
  params = jax.device_put(params, param_shardings_fn(mesh))
  jitted = jax.jit(embed_fn, compiler_options=compiler_options)
  ranges = list(ranges or embedding_shards.shard_ranges(len(source), num_shards))
  if len(ranges) != num_shards:
    raise ValueError(f'{len(ranges)} shard ranges for {num_shards} shards')
  stats = {'truncated': 0, 'rows': 0}
  for shard in multihost.process_shards(num_shards):
    ids_path = directory / embedding_shards.shard_name('ids', shard, num_shards, 'txt')
    if ids_path.exists():
      continue
    start, stop = ranges[shard]
    records = _Slice(source, start, stop)
    order = {id_fn(records[i]): i for i in range(len(records))}
    emb = None
    began = time.perf_counter()
    batches = pipeline.encode_batches(records, tokenizer, text_fn=text_fn, id_fn=id_fn,
                                      max_len=max_len, batch_size=batch_size, buckets=buckets)
    rows_bar = progress.bar(desc=f'encode {directory.name} {shard + 1}/{num_shards}',
                            total=len(records), unit='row')
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules), rows_bar:
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
        rows_bar.update(int(valid.sum()))
    if emb is None:
      raise ValueError(f'shard {shard} of {directory} has no records ({start}..{stop})')
    embedding_shards.write_shard(directory, shard, num_shards, emb,
                                 [id_fn(records[i]) for i in range(len(records))])
    seconds = time.perf_counter() - began
    logging.vlog(1, '%s: shard %d/%d, %d rows in %.1f s (%.0f rows/s)', directory.name, shard + 1,
                 num_shards, len(records), seconds, len(records) / max(seconds, 1e-9))
  multihost.barrier(f'encoded:{directory}')
  if jax.process_index() == 0:
    embedding_shards.finish(directory, num_shards, stage_name=f'encode_{directory.name}',
           stage_config=stage_config, inputs=inputs, extra={'this_process': stats})
  multihost.barrier(f'finished:{directory}')  # No process returns before the manifest exists.
  return directory
