"""Console noise: libraries' INFO lines (orbax, TFDS, ...) are off unless `--verbosity>=1`.

Everything logs through absl's one handler, so a filter on it keeps INFO records of this
project's own files (`xqg_jax/`, `launch/`, `benchmarks/`) and warnings and errors from all.
"""

import contextlib
import io
import logging
import pathlib

from absl import logging as absl_logging

_ROOT = pathlib.Path(__file__).resolve().parents[2]
OWN_DIRS = tuple(str(_ROOT / name) for name in ('xqg_jax', 'launch', 'benchmarks'))


class OwnInfoOnly(logging.Filter):
  """Passes warnings and errors, and below that only records logged from `OWN_DIRS`."""

  def filter(self, record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.pathname.startswith(OWN_DIRS)


def quiet_libraries() -> None:
  """Installs `OwnInfoOnly` on absl's handler unless `--verbosity` is 1 or more (idempotent)."""
  handler = absl_logging.get_absl_handler()
  present = any(isinstance(f, OwnInfoOnly) for f in handler.filters)
  if absl_logging.get_verbosity() >= 1 or present:
    return
  handler.addFilter(OwnInfoOnly())


@contextlib.contextmanager
def library_prints():
  """Drops what a library prints to stdout inside this block (TFDS announces every dataset it
  prepares with `print`), unless `--verbosity` is 1 or more."""
  if absl_logging.get_verbosity() >= 1:
    yield
    return
  with contextlib.redirect_stdout(io.StringIO()):
    yield
