"""Where a result came from: commit, dirty flag, CPU model and flags, devices, date.

Every result JSON (stage records, reports, benchmarks, timings) carries `provenance()`, so a
number can be traced to the code and machine that made it. Works on Linux and macOS, inside or
outside a git checkout (then `commit` is None).
"""

import datetime
import functools
import os
import pathlib
import platform
import subprocess
from typing import Any

REPO = pathlib.Path(__file__).resolve().parents[2]
# CPU flags worth reporting for matmul throughput.
ISA_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_fp16', 'avx512_vnni',
             'amx_tile', 'amx_bf16', 'amx_int8', 'neon', 'sve')


def _git(*args: str) -> str | None:
  try:
    out = subprocess.run(['git', *args], cwd=REPO, capture_output=True, text=True, timeout=30,
                         check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()


def commit() -> dict[str, Any]:
  """{'commit': HEAD or None, 'dirty': uncommitted changes to tracked files, or None}."""
  head = _git('rev-parse', 'HEAD')
  status = _git('status', '--porcelain', '--untracked-files=no') if head else None
  return {'commit': head, 'dirty': None if status is None else bool(status)}


@functools.cache
def cpu() -> dict[str, Any]:
  """CPU model, vendor, family/model and ISA flags (Linux /proc/cpuinfo; elsewhere sysctl)."""
  fields = {}
  path = pathlib.Path('/proc/cpuinfo')
  if path.exists():
    for line in path.read_text(errors='replace').splitlines():
      key, _, value = line.partition(':')
      key = key.strip()
      if key in ('model name', 'vendor_id', 'cpu family', 'model', 'flags', 'Features'):
        fields.setdefault(key, value.strip())
  elif platform.system() == 'Darwin':
    fields['model name'] = _sysctl('machdep.cpu.brand_string')
    fields['flags'] = ' '.join(
        name.lower() for name in (_sysctl('machdep.cpu.features') or '').split())
  flags = set((fields.get('flags') or fields.get('Features') or '').split())
  return {'model': fields.get('model name') or platform.processor() or platform.machine(),
          'vendor': fields.get('vendor_id'),
          'family_model': (f'{fields["cpu family"]}/{fields["model"]}'
                           if 'cpu family' in fields else None),
          'isa': {name: name in flags for name in ISA_FLAGS}}


def _sysctl(name: str) -> str | None:
  try:
    return subprocess.run(['sysctl', '-n', name], capture_output=True, text=True, timeout=10,
                          check=True).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None


def cores() -> int:
  """Cores this process may run on (its affinity mask where the OS has one)."""
  if hasattr(os, 'sched_getaffinity'):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def devices() -> dict[str, Any]:
  """JAX backend, device kind and count (imports jax)."""
  import jax  # pylint: disable=g-import-not-at-top
  return {'backend': jax.default_backend(), 'kind': jax.devices()[0].device_kind,
          'count': jax.device_count(), 'processes': jax.process_count()}


def provenance(with_devices: bool = True) -> dict[str, Any]:
  """Commit, dirty flag, CPU, cores, load, devices and UTC date of this process's results."""
  out = {**commit(), 'cpu': cpu(), 'cores': cores(),
         'load_average': [round(x, 2) for x in os.getloadavg()] if hasattr(os, 'getloadavg')
                         else None,
         'platform': platform.platform(),
         'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}
  if with_devices:
    out['devices'] = devices()
  return out


def describe(record: dict[str, Any]) -> str:
  """One line for a report: CPU, cores, load, devices, commit."""
  load = ', '.join(f'{x:.2f}' for x in record.get('load_average') or [])
  devices_ = record.get('devices') or {}
  commit_ = (record.get('commit') or 'unknown')[:12] + (' (dirty)' if record.get('dirty') else '')
  return (f'{record["cpu"]["model"]}, {record["cores"]} cores, load average {load}, '
          f'JAX {devices_.get("backend")} ({devices_.get("count")} {devices_.get("kind")}), '
          f'commit {commit_}')
