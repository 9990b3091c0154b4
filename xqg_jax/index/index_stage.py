"""Stage `index`: one ScaNN index per embedding shard; search over the shards with a merge.

Layout of a ScaNN index directory (kind 'scann'):
  shard-00000-of-00004/   ScaNN's files, `index.json` (settings used), `ids.txt` and
                          `build.json` (the seconds its build took: a log, not an output)
  meta.json               {'kind': 'scann', 'dim', 'num_shards', 'rows'}
  manifest.json           written by process 0 once every shard exists; its `extra` has the
                          build seconds summed over shards
Process p builds shards p, p+P, ...; a shard directory appears atomically when complete, so
an interrupted run rebuilds only the missing ones. For kind 'exact' nothing is built: the
embedding directory is the index and is searched on device (`exact.search`).

`search` visits one shard at a time and merges its hits into the running top-k, so memory
is bounded by one shard (plus the [Q, k] hits); ties go to the lower global row (shards in
order, rows in shard order).
"""

import json
import time
from typing import Any, Mapping, Sequence

from absl import logging
from etils import epath
import jax
import ml_collections
import numpy as np


from xqg_jax.data.formats import embedding_shards
from xqg_jax.index import exact
from xqg_jax.index import merge
from xqg_jax.index import scann_index
from xqg_jax.io import atomic
from xqg_jax.io import manifest as manifest_lib
from xqg_jax.io import progress
from xqg_jax.io import stage_dir
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import multihost

KINDS = ('scann', 'exact')  # exact: the embedding shards are searched as they are
META_JSON = 'meta.json'
IDS_TXT = 'ids.txt'
BUILD_JSON = 'build.json'  # per shard: the seconds its build took (timing, not hashed)


def shard_dir_name(shard: int, num_shards: int) -> str:
  return f'shard-{shard:05d}-of-{num_shards:05d}'


def _stage_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return {'kind': config.index.kind, 'scann': config.index.scann.to_dict()}


def build(config: ml_collections.ConfigDict, out_dir, embeddings_dir,
          inputs: Mapping[str, str]) -> epath.Path:
  """Builds this process's shard indexes of `embeddings_dir`; returns the directory to search.

  Args:
    config: the run config (`config.index`).
    out_dir: where the ScaNN index goes (unused for kind 'exact').
    embeddings_dir: a finished embedding directory (`data/formats/embedding_shards.py`).
    inputs: digests of what the index is built from, for the manifest.

  Returns:
    `out_dir` for kind 'scann'; `embeddings_dir` itself for kind 'exact'.
  """
  kind = config.index.kind
  if kind == 'exact':
    return epath.Path(embeddings_dir)
  if kind not in KINDS:
    raise ValueError(f'index.kind={kind!r}: expected one of {KINDS}')
  out_dir, embeddings_dir = epath.Path(out_dir), epath.Path(embeddings_dir)
  stage_config = _stage_config(config)
  if stage_dir.is_done(out_dir, config=stage_config, inputs=inputs):
    return out_dir
  multihost.begin_shards(out_dir, config=stage_config, inputs=inputs)
  num_shards = embedding_shards.num_shards_of(embeddings_dir)
  mine = list(multihost.process_shards(num_shards))
  for shard in progress.bar(mine, desc=f'index {out_dir.name}', unit='shard'):
    shard_dir = out_dir / shard_dir_name(shard, num_shards)
    if shard_dir.exists():
      continue
    emb, ids = embedding_shards.load_shard(embeddings_dir, shard)
    source = embeddings_dir / embedding_shards.shard_name('emb', shard, num_shards, 'npy')
    began = time.perf_counter()
    index = scann_index.build(emb, config.index.scann, ids=ids, source=str(source),
                              num_neighbors=config.index.hits)
    seconds = time.perf_counter() - began
    with atomic.atomic_directory(shard_dir) as tmp:
      index.save(tmp / 'scann')
      (tmp / IDS_TXT).write_text(''.join(f'{i}\n' for i in ids))
      (tmp / BUILD_JSON).write_text(json.dumps({'seconds': round(seconds, 3)}) + '\n')
    logging.vlog(1, 'index: shard %d/%d, %d rows in %.1f s', shard + 1, num_shards, len(ids),
                 seconds)
  if jax.process_index() == 0:
    _finish(out_dir, num_shards, stage_config, inputs)
  return out_dir


def _finish(out_dir: epath.Path, num_shards: int, stage_config: dict,
            inputs: Mapping[str, str]) -> None:
  names = [shard_dir_name(s, num_shards) for s in range(num_shards)]
  missing = [name for name in names if not (out_dir / name).exists()]
  if missing:
    logging.info('%s: waiting for %s from other processes', out_dir, missing)
    return
  params = [json.loads((out_dir / name / 'scann' / scann_index.INDEX_JSON).read_text())
            for name in names]
  meta = {'kind': 'scann', 'dim': params[0]['dim'], 'num_shards': num_shards,
          'rows': [p['params']['rows'] for p in params]}
  build_seconds = round(sum(json.loads((out_dir / name / BUILD_JSON).read_text())['seconds']
                            for name in names), 3)
  atomic.write_text(out_dir / META_JSON, json.dumps(meta, indent=1) + '\n')

  def produce(directory):
    return _index_files(directory, names) + [META_JSON], {'rows': sum(meta['rows']),
                                                          'build_seconds': build_seconds}

  stage_dir.run(out_dir, stage='index', config=stage_config, inputs=inputs, produce=produce,
            force=True)


def _index_files(directory: epath.Path, names: Sequence[str]) -> list[str]:
  """The files of shard directories `names` that are the index (every one but `BUILD_JSON`)."""
  return [f for name in names for f in stage_dir.files_under(directory, name)
          if epath.Path(f).name != BUILD_JSON]


def describe(index_dir) -> dict:
  """{'rows', 'bytes' (the index files on disk)} of a finished ScaNN index directory."""
  index_dir = epath.Path(index_dir)
  meta = json.loads((index_dir / META_JSON).read_text())
  names = [shard_dir_name(s, meta['num_shards']) for s in range(meta['num_shards'])]
  size = sum((index_dir / f).stat().length for f in _index_files(index_dir, names))
  return {'rows': sum(meta['rows']), 'bytes': size}


def build_seconds(index_dir) -> float:
  """Seconds a finished ScaNN index took to build, summed over its shards (from its manifest)."""
  return manifest_lib.read(index_dir)['extra']['build_seconds']


def _shards(config, directory: epath.Path, dim: int):
  """Yields (search_fn(queries, k) -> (scores, rows), ids) per shard, in order."""
  meta_path = directory / META_JSON
  if not meta_path.exists():
    raise FileNotFoundError(f'{meta_path}: missing; {directory} is not a finished '
                            'embedding or index directory')
  meta = json.loads(meta_path.read_text())
  kind = config.index.kind
  if 'kind' not in meta:
    raise ValueError(f'{meta_path}: no "kind" (written by older code); run the stage that made '
                     f'{directory} again')
  if meta['kind'] != kind:
    raise ValueError(f'{directory} holds a {meta["kind"]!r} index (an embedding directory is '
                     f'the exact one), but index.kind={kind!r}')
  if meta['dim'] != dim:
    raise ValueError(f'query dim {dim} does not match index dim {meta["dim"]} of {directory}')
  num_shards = meta['num_shards']
  if kind == 'scann':
    for shard in range(num_shards):
      shard_dir = directory / shard_dir_name(shard, num_shards)
      index = scann_index.load(shard_dir / 'scann')
      yield index.search, (shard_dir / IDS_TXT).read_text().splitlines()
    return
  mesh = mesh_lib.create_mesh(config.mesh, jax.local_devices())
  batch = config.index.query_batch_size
  for shard in range(num_shards):
    emb, ids = embedding_shards.load_shard(directory, shard)  # checked: shape, rows, finite

    def search_fn(queries, k, emb=emb):
      hits = [exact.search(queries[i:i + batch], emb, k, config.index.exact_chunk_size, mesh)
              for i in range(0, len(queries), batch)]
      return np.concatenate([h[0] for h in hits]), np.concatenate([h[1] for h in hits])
    yield search_fn, ids


def search(config: ml_collections.ConfigDict, directory, query_emb: np.ndarray,
           k: int) -> tuple[np.ndarray, list[list[str]]]:
  """Top-`k` passages per query over every shard of `directory`.

  Args:
    config: the run config; `config.index.kind` says what `directory` is.
    directory: a ScaNN index directory (`build`), or for kind 'exact' an embedding directory.
    query_emb: [Q, H] float32.
    k: hits per query.

  Returns:
    float32 scores [Q, k'] (k' = min(k, corpus rows)), best first, and the docids of the
    hits per query (shorter than k' only where ScaNN found fewer candidates; those score
    slots hold -inf).
  """
  directory = epath.Path(directory)
  query_emb = np.asarray(query_emb, np.float32)
  if query_emb.ndim != 2:
    raise ValueError(f'query embeddings must be [Q, dim], got shape {query_emb.shape}')
  best_scores = np.zeros((len(query_emb), 0), np.float32)
  best_rows = np.zeros((len(query_emb), 0), np.int64)
  docids = {}  # global row -> docid, for the rows among the current best only
  offset = 0
  for search_fn, ids in _shards(config, directory, query_emb.shape[1]):
    scores, rows = search_fn(query_emb, k)
    found = rows >= 0
    docids.update((int(r) + offset, ids[r]) for r in np.unique(rows[found]))
    rows = np.where(found, rows + offset, -1)
    best_scores, best_rows = merge.top_k([best_scores, scores], [best_rows, rows], k)
    docids = {r: docids[r] for r in np.unique(best_rows[best_rows >= 0]).tolist()}
    offset += len(ids)
  return best_scores, [[docids[r] for r in row if r >= 0] for row in best_rows.tolist()]


def ann_recall(approx_docids: Sequence[Sequence[str]], exact_docids: Sequence[Sequence[str]],
               k: int) -> float:
  """Mean over queries of |approx top-k & exact top-k| / k."""
  if len(approx_docids) != len(exact_docids) or not exact_docids:
    raise ValueError(f'{len(approx_docids)} approximate and {len(exact_docids)} exact hit '
                     'lists (need the same non-zero number)')
  return float(np.mean([len(set(a[:k]) & set(e[:k])) / k
                        for a, e in zip(approx_docids, exact_docids)]))
