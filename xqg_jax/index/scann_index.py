"""A ScaNN dot-product index of one embedding shard: build, save, load, batched search.

The index is a k-means tree over the rows, asymmetric hashing (product quantization with the
anisotropic loss) to score the rows of the searched leaves, and an exact float32 re-scoring
of the best `reorder_k` candidates. Shards too small for that get ScaNN's brute force.

Builds are reproducible: ScaNN's own k-means is not (same rows, same `clustering_seed`, one
training thread, different centers; google-research/google-research#1747), so the tree's
centers come from `kmeans.train`, seeded by `seed` in the config, and ScaNN is handed them
with the rows' leaves as a partial set of assets; it trains the hashing codebook itself,
which is deterministic once the partitions are fixed. Same rows and config, same index.

A saved index is a directory of ScaNN's own files (protobufs and `.npy` arrays, written by
its C++ code with paths relative to the directory) plus `index.json`; it is written in a
temporary sibling and renamed into place. ScaNN's Python wrapper pickles docids when it is
given any; we never give it docids (the caller keeps the row ids) and refuse to load a
directory holding such a pickle.
"""

import dataclasses
import json
import os
import tempfile
from typing import Any, Mapping, Sequence

from absl import logging
from etils import epath
from google.protobuf import text_format
import numpy as np
from scann.partitioning import partitioner_pb2
from scann.proto import partitioning_pb2
from scann.proto import scann_pb2
from scann.scann_ops.py import scann_ops_pybind
from scann.trees.kmeans_tree import kmeans_tree_pb2

from xqg_jax import randomness
from xqg_jax.data.formats import embedding_shards
from xqg_jax.index import kmeans
from xqg_jax.io import atomic

INDEX_JSON = 'index.json'
_PICKLED_DOCIDS = 'scann_docids.pkl'  # written by ScaNN's wrapper only when given docids
# Below this many rows a shard is searched by brute force (exact, and cheap at this size).
BRUTE_FORCE_MAX_ROWS = 256
# Fewest training rows per k-means leaf (fewer gives empty or one-point leaves).
MIN_ROWS_PER_LEAF = 10


def check_embeddings(embeddings: np.ndarray, ids: Sequence[str] | None, source: str) -> None:
  """Raises ValueError for a shard that is empty, not [N, H] or holds NaN/inf values."""
  if embeddings.ndim != 2:
    raise ValueError(f'{source}: embeddings must be [rows, dim], got shape {embeddings.shape}')
  if embeddings.shape[0] == 0:
    raise ValueError(f'{source}: empty shard (0 rows)')
  row = embedding_shards.first_non_finite_row(embeddings)
  if row is not None:
    name = f'id {ids[row]!r} (row {row})' if ids is not None else f'row {row}'
    raise ValueError(f'{source}: NaN/inf values, first in {name}')


def build_params(num_rows: int, scann_config: Mapping[str, Any]) -> dict[str, Any]:
  """The config's ScaNN settings fitted to a shard of `num_rows` rows."""
  if num_rows < BRUTE_FORCE_MAX_ROWS:
    return {'algorithm': 'brute_force', 'rows': num_rows}
  sample = min(scann_config['training_sample_size'], num_rows)
  leaves = max(2, min(scann_config['num_leaves'], sample // MIN_ROWS_PER_LEAF))
  return {
      'algorithm': 'tree_ah', 'rows': num_rows, 'num_leaves': leaves,
      'num_leaves_to_search': min(scann_config['num_leaves_to_search'], leaves),
      'training_sample_size': sample,
      'dimensions_per_block': scann_config['dimensions_per_block'],
      'anisotropic_quantization_threshold':
          scann_config['anisotropic_quantization_threshold'],
      'reorder_k': min(scann_config['reorder_k'], num_rows),
      'kmeans_iterations': scann_config['kmeans_iterations'],
      'seed': scann_config['seed'],
  }


@dataclasses.dataclass
class Index:
  """A built or loaded ScaNN searcher with the facts of its build (`params`, `dim`)."""
  searcher: scann_ops_pybind.ScannSearcher
  dim: int
  params: dict[str, Any]

  @property
  def num_rows(self) -> int:
    return self.params['rows']

  def search(self, queries: np.ndarray, k: int, *, leaves_to_search: int | None = None,
             reorder_k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-`k` rows per query: (float32 [Q, k'] dot products, int64 [Q, k'] rows), k' <= rows.

    Slots ScaNN leaves empty (fewer candidates than k' in the searched leaves) hold -inf and
    row -1. `leaves_to_search` and `reorder_k` override the built defaults.
    """
    if queries.ndim != 2:
      raise ValueError(f'queries must be [Q, dim], got shape {queries.shape}')
    if queries.shape[1] != self.dim:
      raise ValueError(f'query dim {queries.shape[1]} does not match index dim {self.dim}')
    k = min(k, self.num_rows)
    pre_reorder = None
    if self.params['algorithm'] == 'tree_ah':
      pre_reorder = max(k, reorder_k or self.params['reorder_k'])
    rows, scores = self.searcher.search_batched_parallel(
        np.ascontiguousarray(queries, np.float32), final_num_neighbors=k,
        pre_reorder_num_neighbors=pre_reorder, leaves_to_search=leaves_to_search)
    rows, scores = np.asarray(rows, np.int64), np.asarray(scores, np.float32)
    empty = ~np.isfinite(scores)
    scores[empty], rows[empty] = -np.inf, -1
    return scores, rows

  def save(self, directory) -> None:
    """Writes the index to `directory` atomically (a local or `gs://` path)."""
    directory = epath.Path(directory)
    with atomic.atomic_directory(directory) as tmp:
      if '://' in os.fspath(tmp):
        with tempfile.TemporaryDirectory() as local:
          self.searcher.serialize(local, relative_path=True)
          for name in os.listdir(local):
            (tmp / name).write_bytes(epath.Path(local, name).read_bytes())
      else:
        self.searcher.serialize(os.fspath(tmp), relative_path=True)
      meta = {'dim': self.dim, 'params': self.params}
      (tmp / INDEX_JSON).write_text(json.dumps(meta, indent=1) + '\n')


def build(embeddings: np.ndarray, scann_config: Mapping[str, Any], *,
          ids: Sequence[str] | None = None, source: str = 'embeddings',
          num_neighbors: int = 100) -> Index:
  """Builds a dot-product index of `embeddings` [N, H] float32 (checked as `source`)."""
  check_embeddings(embeddings, ids, source)
  params = build_params(embeddings.shape[0], scann_config)
  wanted = {k: scann_config[k] for k in ('num_leaves', 'num_leaves_to_search',
                                         'training_sample_size', 'reorder_k')}
  used = {k: params.get(k) for k in wanted}
  if params['algorithm'] == 'brute_force' or used != wanted:
    logging.info('%s: %d rows, ScaNN settings fitted to the shard: %s (config: %s)', source,
                 embeddings.shape[0], params, wanted)
  db = np.ascontiguousarray(embeddings, np.float32)
  builder = scann_ops_pybind.builder(db, num_neighbors, 'dot_product')
  if params['algorithm'] == 'brute_force':
    return Index(builder.score_brute_force().build(), dim=int(db.shape[1]), params=params)
  builder = builder.tree(
      num_leaves=params['num_leaves'], num_leaves_to_search=params['num_leaves_to_search'],
      training_sample_size=params['training_sample_size']).score_ah(
          params['dimensions_per_block'],
          anisotropic_quantization_threshold=params['anisotropic_quantization_threshold']
      ).reorder(params['reorder_k'])
  rng = randomness.numpy_rng(params['seed'], 'scann-partitions')
  sample = db[np.sort(rng.choice(len(db), params['training_sample_size'], replace=False))]
  centers = kmeans.train(sample, params['num_leaves'], params['kmeans_iterations'], rng)
  leaves, _ = kmeans.nearest_center(db, centers)
  with tempfile.TemporaryDirectory() as assets:
    _write_partitioned_assets(assets, builder.create_config(), db, centers, leaves)
    searcher = scann_ops_pybind.load_searcher(assets, assets_backcompat_shim=False)
  return Index(searcher, dim=int(db.shape[1]), params=params)


def _write_partitioned_assets(directory: str, config_text: str, db: np.ndarray,
                              centers: np.ndarray, leaves: np.ndarray) -> None:
  """ScaNN's files for a tree whose centers and row leaves are given (no hashing yet)."""
  root = kmeans_tree_pb2.SerializedKMeansTree.Node(leaf_id=-1,
                                                  learned_spilling_threshold=float('nan'))
  for leaf, center in enumerate(centers):
    root.centers.add().dimension.extend(center.astype(np.float64).tolist())
    root.children.add(leaf_id=leaf, learned_spilling_threshold=float('nan'))
  partitioner = partitioner_pb2.SerializedPartitioner(n_tokens=len(centers))
  partitioner.kmeans.kmeans_tree.root.CopyFrom(root)
  partitioner.kmeans.kmeans_tree.learned_spilling_type = (
      partitioning_pb2.DatabaseSpillingConfig.NO_SPILLING)
  files = {'scann_config.pb': text_format.Parse(config_text, scann_pb2.ScannConfig()),
           'serialized_partitioner.pb': partitioner}
  for name, message in files.items():
    with open(os.path.join(directory, name), 'wb') as f:
      f.write(message.SerializeToString())
  np.save(os.path.join(directory, 'dataset.npy'), db)
  np.save(os.path.join(directory, 'datapoint_to_token.npy'), leaves.astype(np.int32))
  with open(os.path.join(directory, 'scann_assets.pbtxt'), 'w') as f:
    for kind, path in (('PARTITIONER', 'serialized_partitioner.pb'),
                       ('TOKENIZATION_NPY', 'datapoint_to_token.npy'),
                       ('DATASET_NPY', 'dataset.npy')):
      f.write(f'assets {{ asset_type: {kind} asset_path: "{path}" }}\n')


def load(directory) -> Index:
  """Loads an index saved by `Index.save` (a local or `gs://` directory)."""
  directory = epath.Path(directory)
  if (directory / _PICKLED_DOCIDS).exists():
    raise ValueError(f'{directory / _PICKLED_DOCIDS}: refusing to unpickle ScaNN docids')
  meta = json.loads((directory / INDEX_JSON).read_text())
  if '://' in os.fspath(directory):
    with tempfile.TemporaryDirectory() as local:
      for path in directory.iterdir():
        epath.Path(local, path.name).write_bytes(path.read_bytes())
      searcher = scann_ops_pybind.load_searcher(local, assets_backcompat_shim=False)
  else:
    searcher = scann_ops_pybind.load_searcher(os.fspath(directory),
                                              assets_backcompat_shim=False)
  return Index(searcher, dim=meta['dim'], params=meta['params'])
