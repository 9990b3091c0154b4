"""Training metrics to JSONL (one object per logged step) and progress lines with rates."""

import json
import time

from absl import logging
from etils import epath
import jax
import numpy as np


class MetricsWriter:
  """Appends metrics to `path` (process 0 only) and logs a progress line with steps/s and
  examples/s. On resume, lines after the resume step are dropped first, so the file
  reads as one uninterrupted run."""

  def __init__(self, path, examples_per_step: int, start_step: int = 0):
    self.path = epath.Path(path)
    self.examples_per_step = examples_per_step
    self._last_time, self._last_step = time.perf_counter(), start_step
    self._active = jax.process_index() == 0
    if self._active:
      self.path.parent.mkdir(parents=True, exist_ok=True)
      kept = []
      if self.path.exists():
        kept = [line for line in self.path.read_text().splitlines()
                if line and json.loads(line)['step'] <= start_step]
      self.path.write_text(''.join(line + '\n' for line in kept))

  def write(self, step: int, metrics: dict) -> dict:
    now = time.perf_counter()
    rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
    self._last_time, self._last_step = now, step
    row = {'step': step, **{k: float(np.asarray(v)) for k, v in metrics.items()},
           'steps_per_s': rate, 'examples_per_s': rate * self.examples_per_step}
    if self._active:
      with self.path.open('a') as f:
        f.write(json.dumps(row) + '\n')
      logging.info('step %d: %s', step, ', '.join(f'{k}={v:.4g}' for k, v in row.items()
                                                  if k != 'step'))
    return row
