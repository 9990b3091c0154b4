"""Device mesh construction from the config's `(('data', -1), ('model', 1))` spec."""

import math
from typing import Sequence

import jax
from jax.experimental import mesh_utils
import numpy as np

MeshSpec = Sequence[tuple[str, int]]


def mesh_shape(mesh_spec: MeshSpec, num_devices: int) -> tuple[int, ...]:
  """Resolves the axis sizes of `mesh_spec` for `num_devices`, filling in one -1."""
  names = [name for name, _ in mesh_spec]
  sizes = [size for _, size in mesh_spec]
  where = f'mesh spec {tuple(mesh_spec)} on {num_devices} devices'
  if not mesh_spec:
    raise ValueError(f'{where}: the spec has no axes')
  if len(set(names)) != len(names):
    raise ValueError(f'{where}: axis names repeat')
  if any(size != -1 and size < 1 for size in sizes):
    raise ValueError(f'{where}: sizes must be positive or -1')
  if sizes.count(-1) > 1:
    raise ValueError(f'{where}: at most one axis may be -1')
  known = math.prod(size for size in sizes if size != -1)
  if -1 in sizes:
    if num_devices % known:
      raise ValueError(f'{where}: the fixed sizes multiply to {known}, which does not '
                       f'divide the device count')
    sizes[sizes.index(-1)] = num_devices // known
  elif known != num_devices:
    raise ValueError(f'{where}: the sizes multiply to {known}, not the device count')
  return tuple(sizes)


def create_mesh(mesh_spec: MeshSpec, devices: Sequence[jax.Device] | None = None
                ) -> jax.sharding.Mesh:
  """Builds a mesh over `devices` (default: all global devices of all processes).

  `mesh_utils.create_device_mesh` orders the devices so that on TPU the inner (last) axes
  follow the physical interconnect. Axes are `Auto`, as flax's logical partitioning expects
  (unlike `jax.make_mesh`, whose default is `Explicit`).
  """
  devices = jax.devices() if devices is None else list(devices)
  shape = mesh_shape(mesh_spec, len(devices))
  device_array = mesh_utils.create_device_mesh(shape, devices)
  return jax.sharding.Mesh(np.asarray(device_array), tuple(name for name, _ in mesh_spec))
