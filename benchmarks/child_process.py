"""A call timed in a fresh spawned process, with that process's own peak RSS.

`in_child(fn, *args)` runs `fn(*args)` in a new interpreter (spawn, not fork: the child's
peak RSS is its own, not the parent's image) and says how many cores other processes kept
busy meanwhile; `command(argv, ...)` does the same for a command line. `timed(fn,
baseline_rss)` inside the child gives wall and CPU seconds, the peak RSS (VmHWM) and the RSS
before the timed section (interpreter, imports, JAX client).
"""

from concurrent import futures
import multiprocessing
import resource
import subprocess
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


def _measured(run: Callable[[], Any]) -> tuple[Any, float, float]:
  """`run()`'s result, wall seconds, and the cores other processes than this one and its
  children kept busy meanwhile."""
  children0, t0 = _children_cpu_s(), time.perf_counter()
  with common.LoadMonitor() as load:
    result = run()
  wall = time.perf_counter() - t0
  # LoadMonitor counts the (reaped) children as other processes: take their CPU time back out.
  child_cores = (_children_cpu_s() - children0) / wall
  return result, wall, max(0.0, (load.other_cores or 0.0) - child_cores)


def in_child(fn: Callable[..., Any], *args) -> tuple[Any, float]:
  """`fn(*args)` in a fresh spawned process; its result, and the cores other processes used."""
  def run():
    with futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn')) as pool:
      return pool.submit(fn, *args).result()
  result, _, other = _measured(run)
  return result, other


def command(argv: list[str], *, cwd: str, log_path: str) -> dict[str, float]:
  """Runs `argv` in `cwd` with its output in `log_path` (CalledProcessError if it fails): its
  wall seconds and the cores other processes kept busy meanwhile."""
  def run():
    with open(log_path, 'w') as log:
      subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, check=True)
  _, wall, other = _measured(run)
  return {'wall_s': wall, 'other_processes_cores': other}
