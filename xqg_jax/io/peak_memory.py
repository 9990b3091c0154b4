"""This process's peak resident memory, and resetting it between stages (Linux /proc).

`peak_bytes()` is VmHWM; `reset()` writes 5 to /proc/self/clear_refs, which sets VmHWM back
to the current RSS, so a peak read after a stage is that stage's own. Elsewhere (no /proc)
both return None. Memory of child processes is not included.
"""

_STATUS = '/proc/self/status'
_CLEAR_REFS = '/proc/self/clear_refs'


def status_bytes(field: str) -> int | None:
  """A size from /proc/self/status ('VmRSS': resident now, 'VmHWM': peak), or None."""
  try:
    with open(_STATUS) as f:
      for line in f:
        if line.startswith(f'{field}:'):
          return int(line.split()[1]) * 1024
  except OSError:
    return None
  return None


def peak_bytes() -> int | None:
  """Peak resident bytes since the process started or since the last `reset()`."""
  return status_bytes('VmHWM')


def reset() -> bool:
  """Starts a new peak from the current RSS; False where the kernel does not allow it."""
  try:
    with open(_CLEAR_REFS, 'w') as f:
      f.write('5')
    return True
  except OSError:
    return False
