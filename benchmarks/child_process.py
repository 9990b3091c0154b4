"""A call timed in a fresh spawned process, with that process's own peak RSS.

`in_child(fn, *args)` runs `fn(*args)` in a new interpreter (spawn, not fork: the child's
peak RSS is its own, not the parent's image) and says how many cores other processes kept
busy meanwhile. `timed(fn, baseline_rss)` inside the child gives wall and CPU seconds, the
peak RSS (VmHWM) and the RSS before the timed section (interpreter, imports, JAX client).
"""

from concurrent import futures
import multiprocessing
import resource
import time
from typing import Any, Callable

from benchmarks import common
from xqg_jax.io import peak_memory


def status_bytes(field: str) -> int:
  """A size from /proc/self/status: 'VmRSS' (resident now) or 'VmHWM' (peak resident).

  VmHWM, not `ru_maxrss`: a spawned child's `ru_maxrss` keeps the peak of the parent's image
  that it was forked from before its exec; VmHWM is of the process's own address space.
  """
  value = peak_memory.status_bytes(field)
  if value is None:
    raise OSError(f'no {field} in /proc/self/status')
  return value


def timed(fn: Callable[[], Any], baseline_rss: int) -> dict[str, Any]:
  """Runs `fn` once: wall and CPU seconds, peak and baseline RSS of this process."""
  usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
  fn()
  wall, usage = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
  cpu = (usage.ru_utime + usage.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
  return {'wall_s': wall, 'cpu_util': cpu / wall, 'baseline_rss_bytes': baseline_rss,
          'peak_rss_bytes': status_bytes('VmHWM')}


def _children_cpu_s() -> float:
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def in_child(fn: Callable[..., Any], *args) -> tuple[Any, float]:
  """`fn(*args)` in a fresh spawned process; its result, and the cores other processes used."""
  children0, t0 = _children_cpu_s(), time.perf_counter()
  with common.LoadMonitor() as load:
    with futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn')) as pool:
      result = pool.submit(fn, *args).result()
  # LoadMonitor counts the (reaped) child as another process: take its CPU time back out.
  child_cores = (_children_cpu_s() - children0) / (time.perf_counter() - t0)
  return result, max(0.0, (load.other_cores or 0.0) - child_cores)
