"""Multi-process start-up and the split of work across processes.

`initialize` must run before anything touches a JAX backend (`jax.devices()`, creating an
array, jitting): `jax.distributed.initialize` refuses to run after that.
"""

import glob
import importlib.util
import os

import jax
from jax.experimental import multihost_utils

from xqg_jax.io import stage_dir

# Set by the Cloud TPU runtime on multi-host slices (GKE, multislice).
_TPU_ENV_VARS = ('TPU_WORKER_HOSTNAMES', 'TPU_PROCESS_ADDRESSES', 'MEGASCALE_COORDINATOR_ADDRESS')


def on_cloud_tpu() -> bool:
  """Whether this looks like a Cloud TPU VM, decided without initializing a JAX backend.

  True when the TPU runtime's worker variables are set, or when libtpu is installed and TPU
  chips are attached (`/dev/accel*` on v2-v4, `/dev/vfio/<n>` on v5e and later).
  """
  if any(os.environ.get(name) for name in _TPU_ENV_VARS):
    return True
  if importlib.util.find_spec('libtpu') is None:
    return False
  return bool(glob.glob('/dev/accel*') or glob.glob('/dev/vfio/[0-9]*'))


def initialize(distributed_config) -> None:
  """Starts JAX's distributed runtime as `config.distributed` says; safe to call twice.

  - `coordinator_address` set: explicit start with `num_processes` and `process_id` (CPU
    collectives use gloo, so processes on one machine or a CPU cluster work).
  - otherwise on a Cloud TPU VM: `jax.distributed.initialize()` discovers the slice.
  - otherwise: a single process; nothing to do.
  """
  if jax.distributed.is_initialized():
    return
  address = distributed_config.coordinator_address
  num_processes = distributed_config.num_processes
  process_id = distributed_config.process_id
  if address:
    if not 0 <= process_id < num_processes:
      raise ValueError(f'distributed.process_id={process_id} is outside '
                       f'[0, num_processes={num_processes})')
    if num_processes > 1:
      # Only affects the CPU backend; without it CPU computations cannot span processes.
      jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(coordinator_address=address, num_processes=num_processes,
                               process_id=process_id)
  elif num_processes > 1:
    raise ValueError(f'distributed.num_processes={num_processes} needs '
                     'distributed.coordinator_address')
  elif on_cloud_tpu():
    jax.distributed.initialize()


def _resolve(process_index: int | None, process_count: int | None) -> tuple[int, int]:
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  if not 0 <= index < count:
    raise ValueError(f'process_index {index} is outside [0, process_count={count})')
  return index, count


def process_shards(num_shards: int, process_index: int | None = None,
                   process_count: int | None = None) -> list[int]:
  """This process's shard ids: shard i goes to process i % process_count."""
  index, count = _resolve(process_index, process_count)
  return list(range(index, num_shards, count))


def process_slice(num_items: int, process_index: int | None = None,
                  process_count: int | None = None) -> tuple[int, int]:
  """This process's contiguous `[start, stop)` of `num_items`; sizes differ by at most one."""
  index, count = _resolve(process_index, process_count)
  base, extra = divmod(num_items, count)
  start = index * base + min(index, extra)
  return start, start + base + (index < extra)


def begin_shards(directory, *, config, inputs) -> None:
  """`stage_dir.begin_shards` on process 0, then a barrier so no process writes into a stale dir."""
  if jax.process_index() == 0:
    stage_dir.begin_shards(directory, config=config, inputs=inputs)
  barrier(f'begin_shards:{directory}')


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier `name` (no-op with one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)
