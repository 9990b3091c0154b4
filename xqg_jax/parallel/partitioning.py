"""Logical axis names -> mesh shardings, and per-process host batches -> global arrays.

Rules are `(logical_name, mesh_axes)` pairs as in `config.logical_axis_rules`; mesh_axes is
a mesh axis name, a tuple of them, or None (replicated). A repeated logical name is a
fallback used when the first choice's mesh axis is already taken (flax semantics). Unlike
flax, a logical name missing from the rules is an error here rather than silently
replicated, so a typo cannot quietly replicate a large weight; map a name to None to
replicate it on purpose.
"""

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
from jax.sharding import NamedSharding, PartitionSpec
import numpy as np

LogicalAxes = Sequence[str | None]
Rules = Sequence[tuple[str, Any]]


def _check_known(logical_axes: LogicalAxes, rules: Rules) -> None:
  known = {name for name, _ in rules}
  unknown = [name for name in logical_axes if name is not None and name not in known]
  if unknown:
    raise ValueError(f'logical axes {unknown} of {tuple(logical_axes)} have no rule; '
                     f'known: {sorted(known)}')


def logical_to_mesh_spec(logical_axes: LogicalAxes, rules: Rules) -> PartitionSpec:
  """The mesh PartitionSpec for an array whose dimensions carry `logical_axes`."""
  _check_known(logical_axes, rules)
  return nn.logical_to_mesh_axes(tuple(logical_axes), tuple(rules))


def logical_sharding(mesh: jax.sharding.Mesh, logical_axes: LogicalAxes,
                     rules: Rules) -> NamedSharding:
  """The NamedSharding on `mesh` for an array whose dimensions carry `logical_axes`."""
  return NamedSharding(mesh, logical_to_mesh_spec(logical_axes, rules))


def tree_shardings(logical_specs: Any, mesh: jax.sharding.Mesh, rules: Rules,
                   shapes: Any = None) -> Any:
  """NamedShardings for a tree of logical PartitionSpecs.

  `logical_specs` is what `nn.get_partition_spec` returns for a tree boxed by
  `nn.with_logical_partitioning` (e.g. from `jax.eval_shape(model.init, ...)`); unboxed
  leaves there are `PartitionSpec()` and become replicated. The result can be passed as
  `out_shardings` of the jitted init, MaxText's pattern. With `shapes` (the same tree of
  arrays or ShapeDtypeStructs, unboxed), a dimension that its mesh axes do not divide evenly
  is replicated instead (mBERT's vocabulary of 119,547 rows on a 'model' axis of 2).
  """
  for spec in jax.tree.leaves(logical_specs, is_leaf=lambda x: isinstance(x, PartitionSpec)):
    _check_known(spec, rules)
  shardings = nn.logical_to_mesh_sharding(logical_specs, mesh, tuple(rules))
  if shapes is None:
    return shardings
  return jax.tree.map(lambda sharding, leaf: _divisible(sharding, leaf.shape), shardings,
                      shapes, is_leaf=lambda x: isinstance(x, NamedSharding))


def _divisible(sharding: NamedSharding, shape: Sequence[int]) -> NamedSharding:
  """`sharding` with each dimension its mesh axes do not divide evenly replicated."""
  spec = tuple(sharding.spec) + (None,) * (len(shape) - len(sharding.spec))
  fitted = []
  for size, entry in zip(shape, spec):
    axes = () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)
    ways = int(np.prod([sharding.mesh.shape[axis] for axis in axes]))
    fitted.append(entry if size % ways == 0 else None)
  return NamedSharding(sharding.mesh, PartitionSpec(*fitted))


def _local_shards_per_dim(mesh: jax.sharding.Mesh, spec: PartitionSpec,
                          ndim: int) -> list[int]:
  """For each array dimension, how many distinct slices this process's devices hold."""
  is_local = np.vectorize(lambda d: d.process_index == jax.process_index())(mesh.devices)
  local_coords = np.argwhere(is_local)
  counts = []
  for entry in tuple(spec) + (None,) * (ndim - len(spec)):
    axes = () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)
    columns = [mesh.axis_names.index(axis) for axis in axes]
    counts.append(len({tuple(coords[columns]) for coords in local_coords}))
  return counts


def shard_host_batch(batch: Mapping[str, np.ndarray], mesh: jax.sharding.Mesh,
                     rules: Rules,
                     logical_axes: Mapping[str, LogicalAxes] | None = None
                     ) -> dict[str, jax.Array]:
  """Assembles global arrays from this process's rows of each batch entry.

  Each process passes only its own rows; the global batch is their concatenation in the
  order of the mesh's devices. Entries not in `logical_axes` are `('batch', None, ...)`.
  Every sharded dimension of the local data must divide evenly over the slices this
  process's devices hold (for the batch: the local devices along the data axis).
  """
  logical_axes = logical_axes or {}
  result = {}
  for key, value in batch.items():
    value = np.asarray(value)
    axes = tuple(logical_axes.get(key, ('batch',) + (None,) * (value.ndim - 1)))
    if len(axes) != value.ndim:
      raise ValueError(f'batch[{key!r}] has shape {value.shape} but logical axes {axes}')
    sharding = logical_sharding(mesh, axes, rules)
    for dim, (size, count) in enumerate(
        zip(value.shape, _local_shards_per_dim(mesh, sharding.spec, value.ndim))):
      if size % count:
        raise ValueError(
            f'batch[{key!r}] dimension {dim} ({axes[dim]}) has {size} rows in this process, '
            f'not divisible by the {count} local devices along mesh axes '
            f'{sharding.spec[dim]}')
    result[key] = jax.make_array_from_process_local_data(sharding, value)
  return result
