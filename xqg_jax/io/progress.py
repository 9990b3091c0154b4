"""Progress bars with rate and ETA for the long loops (training, encoding, generation, ...).

One tqdm bar on stderr, drawn by process 0 only and only when stderr is a terminal, so logs,
CI output and other hosts stay free of carriage-return lines. A finished bar is cleared, so
the console keeps only the log lines.
"""

import sys
from typing import Iterable, TextIO, TypeVar

import jax
import tqdm

T = TypeVar('T')


def enabled(stream: TextIO | None = None) -> bool:
  """Whether bars are drawn: on process 0, when `stream` (default stderr) is a terminal."""
  stream = stream or sys.stderr
  return jax.process_index() == 0 and stream.isatty()


def bar(iterable: Iterable[T] | None = None, *, desc: str, total: int | None = None,
        unit: str = 'it', initial: int = 0, stream: TextIO | None = None) -> tqdm.tqdm:
  """A bar over `iterable` (or a manual one, advanced with `.update(n)`) named `desc`.

  `total` defaults to `len(iterable)`; `initial` is where a resumed loop starts.
  """
  stream = stream or sys.stderr
  return tqdm.tqdm(iterable, desc=desc, total=total, unit=unit, initial=initial, file=stream,
                   disable=not enabled(stream), dynamic_ncols=True, leave=False,
                   mininterval=0.5)
