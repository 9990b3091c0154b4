"""Benchmarks run without the BLAS overrides a machine may set for old OpenBLAS builds.

Some machines export `OPENBLAS_CORETYPE` (and `OPENBLAS_L2_SIZE`); on a newer CPU that pins
NumPy's (and FAISS's) OpenBLAS to older kernels, handicapping the NumPy and FAISS peers.
OpenBLAS reads them when it loads, so a benchmark started with them re-executes itself once
without them (its own command only: the caller's environment, tests and CI keep theirs) and
reports what it unset, with the BLAS kernels that threadpoolctl finds loaded at the end.
"""

import json
import os
import sys

VARIABLES = ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')
_UNSET = 'XQG_BENCH_UNSET_BLAS_VARIABLES'  # what the re-executed process was started without


def reexec_without_overrides() -> None:
  """Re-executes this command without `VARIABLES` if any is set (call first in `__main__`)."""
  found = {name: os.environ[name] for name in VARIABLES if name in os.environ}
  if not found:
    return
  env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
  env[_UNSET] = json.dumps(found)
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def report() -> dict:
  """{'unset': {variable: its value before the re-exec}, 'libraries': [...]}: the overrides this
  run was freed of and every BLAS/OpenMP library loaded now (threadpoolctl: API, version,
  kernel architecture, threads, file)."""
  import threadpoolctl  # pylint: disable=g-import-not-at-top
  libraries = [{'api': info.get('internal_api'), 'version': info.get('version'),
                'architecture': info.get('architecture'), 'threads': info.get('num_threads'),
                'file': os.path.basename(info.get('filepath', ''))}
               for info in threadpoolctl.threadpool_info()]
  return {'unset': json.loads(os.environ.get(_UNSET, '{}')),
          'still_set': {n: os.environ[n] for n in VARIABLES if n in os.environ},
          'libraries': libraries}
