"""Training metrics to JSONL (one object per logged step) and progress lines with rates."""

import json
import os
import time

from absl import logging
from etils import epath
import jax
import numpy as np

from xqg_jax.io import atomic


class MetricsWriter:
  """Appends metrics to `path` (process 0 only) and logs a progress line with steps/s and
  examples/s. On resume, lines after the resume step are dropped first, so the file
  reads as one uninterrupted run (rewritten atomically: a kill then cannot lose the earlier
  lines). Object stores (`gs://`) cannot append: there the file is rewritten whole at every
  write."""

  def __init__(self, path, examples_per_step: int, start_step: int = 0):
    self.path = epath.Path(path)
    self.examples_per_step = examples_per_step
    self._last_time, self._last_step = time.perf_counter(), start_step
    self._active = jax.process_index() == 0
    self._remote = '://' in os.fspath(self.path)
    self._lines = []
    if self._active:
      self.path.parent.mkdir(parents=True, exist_ok=True)
      if self.path.exists():
        self._lines = [json.dumps(row) + '\n' for row in read_rows(self.path)
                       if row['step'] <= start_step]
      atomic.write_text(self.path, ''.join(self._lines))

  def write(self, step: int, metrics: dict, echo: bool = True) -> dict:
    """Appends one row; logs it at INFO when `echo`, else only at `--verbosity=1`."""
    now = time.perf_counter()
    rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
    self._last_time, self._last_step = now, step
    row = {'step': step, **{k: float(np.asarray(v)) for k, v in metrics.items()},
           'steps_per_s': rate, 'examples_per_s': rate * self.examples_per_step}
    if self._active:
      line = json.dumps(row) + '\n'
      if self._remote:  # gcsfs opens 'a' as 'w': appending would keep only the last row.
        self._lines.append(line)
        atomic.write_text(self.path, ''.join(self._lines))
      else:
        with self.path.open('a') as f:
          f.write(line)
      text = ', '.join(f'{k}={v:.4g}' for k, v in row.items() if k != 'step')
      if echo:
        logging.info('step %d: %s', step, text)
      else:
        logging.vlog(1, 'step %d: %s', step, text)
    return row


def read_rows(path) -> list[dict]:
  """The rows of a metrics JSONL file. A torn last line (the process was killed while
  appending it) is dropped with a warning; a bad line before it is an error naming it."""
  lines = epath.Path(path).read_text().splitlines()
  rows = []
  for number, line in enumerate(lines, 1):
    if not line:
      continue
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as e:
      if number == len(lines):
        logging.warning('%s:%d: dropping a torn last line (%s)', path, number, e)
        break
      raise ValueError(f'{path}:{number}: not a JSON metrics row ({e})') from e
  return rows
