"""Shared benchmark helpers: machine info, thread setup, timing, matmul peaks, JSON and tables.

Benchmarks on a shared CPU are noisy, so timings interleave the contenders (one repeat of each
in turn, so load changes hit all of them) and report the best and the median of the repeats,
with the process CPU utilisation (CPU seconds / wall seconds) and the load average around
them. Peaks are measured in the same run with the same threads, never taken from a datasheet.
"""

import contextlib
import json
import os
import resource
import statistics
import sys
import time
from typing import Any, Callable, Mapping, Sequence

from benchmarks import blas_env
from xqg_jax.io import atomic
from xqg_jax.io import provenance

# A timing taken while other processes kept more cores than this busy is marked unreliable.
CONTENDED_CORES = 0.25


def num_cores() -> int:
  """Cores this process may run on (its affinity mask)."""
  return provenance.cores()


def setup_threads(threads: int, extra_xla_flags: str = '') -> dict[str, Any]:
  """Gives JAX (XLA:CPU) and PyTorch the same `threads` intra-op threads.

  Call before JAX creates its CPU client (the first computation). XLA:CPU has no thread-count
  option: its intra-op pool is sized to the schedulable cores, so fewer threads than cores are
  set by restricting the process affinity (which also bounds PyTorch). PyTorch gets
  `torch.set_num_threads(threads)` in `torch_setup`.

  Returns:
    The settings made, for the JSON report.
  """
  cores = num_cores()
  if not 1 <= threads <= cores:
    raise ValueError(f'threads={threads} must be in [1, {cores}] (schedulable cores)')
  if threads < cores:
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
  flags = [f'--xla_cpu_multi_thread_eigen={"true" if threads > 1 else "false"}']
  flags += extra_xla_flags.split()
  os.environ['XLA_FLAGS'] = ' '.join([os.environ.get('XLA_FLAGS', '')] + flags).strip()
  os.environ.setdefault('JAX_PLATFORMS', 'cpu')
  for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[name] = str(threads)
  return {'threads': threads, 'affinity': sorted(os.sched_getaffinity(0)),
          'xla_flags': os.environ['XLA_FLAGS']}


def torch_setup(threads: int) -> dict[str, Any]:
  """Sets PyTorch's intra-op threads; returns what torch reports."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(threads)
  return {'torch_num_threads': torch.get_num_threads(),
          'torch_num_interop_threads': torch.get_num_interop_threads()}


DEVICES = ('cpu', 'gpu')
TORCH_DEVICES = {'cpu': 'cpu', 'gpu': 'cuda'}


def setup_device(device: str, threads: int, extra_xla_flags: str = '') -> dict[str, Any]:
  """Puts both frameworks on `device`: 'cpu' (`threads` intra-op threads each, as
  `setup_threads` and `torch_setup`) or 'gpu' (JAX on CUDA, PyTorch on 'cuda'; a clear error
  when either has no GPU). Call before JAX initialises; returns the settings for the report."""
  if device not in DEVICES:
    raise ValueError(f'device must be one of {DEVICES}, got {device!r}')
  if device == 'cpu':
    return {'device': device, **setup_threads(threads, extra_xla_flags), **torch_setup(threads)}
  import torch  # pylint: disable=g-import-not-at-top
  if not torch.cuda.is_available():
    raise RuntimeError('device=gpu but PyTorch sees no CUDA device (a CPU-only torch build?)')
  os.environ['JAX_PLATFORMS'] = 'cuda'
  if extra_xla_flags:
    os.environ['XLA_FLAGS'] = ' '.join([os.environ.get('XLA_FLAGS', ''), extra_xla_flags]).strip()
  import jax  # pylint: disable=g-import-not-at-top
  return {'device': device, 'jax_gpu': [str(d) for d in jax.devices('gpu')],
          'torch_gpu': torch.cuda.get_device_name(0), 'xla_flags': os.environ.get('XLA_FLAGS', '')}


def device_line(settings: Mapping[str, Any]) -> str:
  """How the frameworks ran, for a report's first line."""
  if settings.get('device') == 'gpu':
    return f'GPU: JAX {settings["jax_gpu"]}, torch {settings["torch_gpu"]}'
  return (f'threads {settings["threads"]} (torch {settings["torch_num_threads"]}, '
          f'XLA_FLAGS="{settings["xla_flags"]}")')


def torch_sync(device: str) -> None:
  """Waits for PyTorch's queued GPU work (no-op on CPU): timings must include it."""
  if device == 'gpu':
    import torch  # pylint: disable=g-import-not-at-top
    torch.cuda.synchronize()


def machine_info() -> dict[str, Any]:
  """CPU model, cores, ISA flags, load, library versions, and the commit and date (provenance)."""
  record = provenance.provenance(with_devices=False)
  cpu = record.pop('cpu')
  info = {
      'cpu_model': cpu['model'],
      'cpu_vendor': cpu['vendor'],
      'cpu_family_model': cpu['family_model'],
      'isa': cpu['isa'],
      'cpu_count': os.cpu_count(),
      'schedulable_cores': record.pop('cores'),
      'loadavg': record.pop('load_average'),
      'python': sys.version.split()[0],
      **record,
  }
  for module in ('jax', 'jaxlib', 'flax', 'torch', 'transformers', 'numpy'):
    mod = sys.modules.get(module)
    if mod is not None:
      info[f'{module}_version'] = getattr(mod, '__version__', None)
  return info


def _machine_busy_seconds() -> float:
  """CPU seconds all processes spent busy since boot (/proc/stat), or 0.0 if unreadable."""
  try:
    with open('/proc/stat') as f:
      fields = [int(v) for v in f.readline().split()[1:]]
  except (OSError, ValueError):
    return 0.0
  idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
  return (sum(fields[:8]) - idle) / os.sysconf('SC_CLK_TCK')


class LoadMonitor:
  """Measures how many cores other processes kept busy while the `with` block ran.

  `other_cores` is (machine busy CPU seconds - this process's CPU seconds) / wall seconds:
  ~0 on an idle machine; a timing taken while it is well above 0 was slowed by contention.
  """

  def __enter__(self) -> 'LoadMonitor':
    self._start = (_machine_busy_seconds(), _cpu_seconds(), time.perf_counter())
    self.other_cores = None
    return self

  def __exit__(self, *exc) -> None:
    busy, own, wall = (_machine_busy_seconds(), _cpu_seconds(), time.perf_counter())
    elapsed = wall - self._start[2]
    if elapsed > 0:
      self.other_cores = max(0.0, (busy - self._start[0]) - (own - self._start[1])) / elapsed


def _cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def time_interleaved(fns: Mapping[str, Callable[[], Any]], *, warmup: int,
                     repeats: int) -> dict[str, dict[str, Any]]:
  """Times each blocking `fn` `repeats` times, round-robin, after `warmup` calls each.

  Returns:
    Per name: `times` (seconds per call), `best`, `median`, `cpu_util` (process CPU seconds
    per wall second over its timed calls: ~threads when all threads are busy), and `result`
    (the last call's return value).
  """
  for fn in fns.values():
    for _ in range(warmup):
      fn()
  times = {name: [] for name in fns}
  cpu = dict.fromkeys(fns, 0.0)
  results = {}
  for _ in range(repeats):
    for name, fn in fns.items():
      c0, t0 = _cpu_seconds(), time.perf_counter()
      results[name] = fn()
      t1, c1 = time.perf_counter(), _cpu_seconds()
      times[name].append(t1 - t0)
      cpu[name] += c1 - c0
  return {name: {'times': ts, 'best': min(ts), 'median': statistics.median(ts),
                 'cpu_util': cpu[name] / sum(ts), 'result': results[name]}
          for name, ts in times.items()}


def jax_matmul(n: int, dtype: str, compiler_options: Mapping[str, Any] | None = None
               ) -> Callable[[], Any]:
  """A blocking jitted `[n, n] @ [n, n]` in JAX, compiled with XLA `compiler_options`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.dtype(dtype))
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.dtype(dtype))
  f = jax.jit(jnp.matmul).lower(a, b).compile(dict(compiler_options or {}))
  return lambda: f(a, b).block_until_ready()


def torch_matmul(n: int, dtype: str, device: str = 'cpu') -> Callable[[], Any]:
  """A blocking `[n, n] @ [n, n]` in PyTorch on `device`, under `inference_mode`."""
  import torch  # pylint: disable=g-import-not-at-top
  gen = torch.Generator().manual_seed(0)
  a, b = (torch.randn(n, n, generator=gen).to(TORCH_DEVICES[device], getattr(torch, dtype))
          for _ in range(2))

  def run():
    with torch.inference_mode():
      out = torch.matmul(a, b)
    torch_sync(device)
    return out
  return run


def matmul_peaks(n: int, dtypes: Sequence[str], *, warmup: int, repeats: int,
                 jax_variants: Mapping[str, Mapping[str, Any]] | None = None,
                 device: str = 'cpu') -> dict[str, dict[str, Any]]:
  """Measured `n^3` matmul GFLOP/s (best of `repeats`), JAX and PyTorch, interleaved.

  Args:
    n: matrix size.
    dtypes: 'float32' / 'bfloat16' (inputs and output; accumulation is the library's).
    warmup: untimed calls of each.
    repeats: timed calls of each.
    jax_variants: name -> XLA compiler options; JAX is measured under each.
    device: where PyTorch runs ('cpu' | 'gpu'); JAX runs on its default backend.

  Returns:
    `'torch_{dtype}'`, `'jax[{variant}]_{dtype}'` and `'jax_{dtype}'` (the best JAX variant,
    with its name under 'variant') -> {'n', 'gflops', 'gflops_median', 'cpu_util'}.
  """
  jax_variants = jax_variants or {'default': {}}
  fns = {}
  for dt in dtypes:
    fns[f'torch_{dt}'] = torch_matmul(n, dt, device)
    for variant, options in jax_variants.items():
      fns[f'jax[{variant}]_{dt}'] = jax_matmul(n, dt, options)
  timed = time_interleaved(fns, warmup=warmup, repeats=repeats)
  flops = 2.0 * n ** 3
  peaks = {name: {'n': n, 'gflops': flops / t['best'] / 1e9,
                  'gflops_median': flops / t['median'] / 1e9, 'cpu_util': t['cpu_util']}
           for name, t in timed.items()}
  for dt in dtypes:
    best = max(jax_variants, key=lambda v, dt=dt: peaks[f'jax[{v}]_{dt}']['gflops'])
    peaks[f'jax_{dt}'] = {**peaks[f'jax[{best}]_{dt}'], 'variant': best}
  return peaks


def torch_runner(model, dtype: str, mode: str, call: Callable[[Any], Any],
                 device: str = 'cpu') -> Callable[[], Any]:
  """A blocking closure running `call(model)` under `inference_mode`; bf16 by autocast
  (`mode='autocast'`) or on a bf16 copy of the model (`mode='cast'`). The model and its
  inputs must already be on `device`."""
  import torch  # pylint: disable=g-import-not-at-top
  autocast = dtype == 'bfloat16' and mode == 'autocast'
  if dtype == 'bfloat16' and mode == 'cast':
    model = model.to(torch.bfloat16)

  def run():
    context = (torch.autocast(TORCH_DEVICES[device], dtype=torch.bfloat16) if autocast
               else contextlib.nullcontext())
    with torch.inference_mode(), context:
      out = call(model)
    torch_sync(device)
    return out
  return run


def target_line(target: Mapping[str, Any], label: str = '', suffix: str = '') -> str:
  """`target {label} {metric} >= {target}: {value} -> met|SHORT{suffix}` for a report."""
  name = f'{label} {target["metric"]}' if label else target['metric']
  verdict = 'met' if target['met'] else 'SHORT'
  return f'target {name} >= {target["target"]}: {target["value"]:.2f} -> {verdict}{suffix}'


def write_json(result: Mapping[str, Any], output: str | None) -> None:
  """Writes `result` as JSON to `output`, or prints it when `output` is empty, with the BLAS
  overrides the run was started without and the BLAS kernels loaded by now (`blas_env`)."""
  result = {**result, 'blas': blas_env.report()}
  text = json.dumps(result, indent=2, sort_keys=False, default=str)
  if not output:
    print(text)
    return
  atomic.write_text(output, text + '\n')


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]
                 ) -> str:
  """A fixed-width table; `columns` are (key, header, format spec), e.g. ('x', 'X', '.2f')."""
  def cell(row, key, spec):
    value = row.get(key)
    if value is None:
      return '-'
    return format(value, spec) if spec and not isinstance(value, str) else str(value)
  cells = [[header for _, header, _ in columns]]
  cells += [[cell(row, key, spec) for key, _, spec in columns] for row in rows]
  widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
  lines = ['  '.join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return '\n'.join(lines)
