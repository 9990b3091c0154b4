"""Libraries' INFO records are filtered from the console; ours, and every warning, pass; a
training run logs a few of its metrics rows there."""

import logging

from absl import logging as absl_logging

from xqg_jax.io import console
from xqg_jax.training import loop


def _record(pathname, level):
  return logging.LogRecord('absl', level, pathname, 1, 'message', None, None)


def test_only_our_info_and_everyones_warnings_pass():
  keep = console.OwnInfoOnly()
  ours = f'{console.OWN_DIRS[0]}/io/stage_dir.py'
  library = '/site-packages/orbax/checkpoint/checkpoint_manager.py'
  assert keep.filter(_record(ours, logging.INFO))
  assert not keep.filter(_record(library, logging.INFO))
  assert keep.filter(_record(library, logging.WARNING))


def test_verbosity_one_keeps_library_info():
  handler, logger = absl_logging.get_absl_handler(), absl_logging.get_absl_logger()
  # The logger's own level, not get_verbosity(): that reads the effective level, and setting
  # it back would pin a logger that inherited (NOTSET) to WARNING for later tests.
  before, level = list(handler.filters), logger.level
  try:
    absl_logging.set_verbosity(1)
    console.quiet_libraries()
    assert handler.filters == before
    absl_logging.set_verbosity(0)
    console.quiet_libraries()
    console.quiet_libraries()  # idempotent
    assert sum(isinstance(f, console.OwnInfoOnly) for f in handler.filters) == 1
  finally:
    handler.filters[:] = before
    logger.setLevel(level)


class _Metrics:
  def __init__(self):
    self.rows = []

  def write(self, step, metrics, echo=True):
    self.rows.append((step, echo))


class _Checkpoints:
  def save(self, step, state):
    pass


class _State:
  def __init__(self, step):
    self.step = step


def _train(total_steps, log_every, start=0):
  metrics = _Metrics()
  loop.run(_State(start), step_fn=lambda state, batch: (_State(state.step + 1), {}),
           batch_at=lambda step: None, total_steps=total_steps, checkpoints=_Checkpoints(),
           checkpoint_every=total_steps, log_every=log_every, metrics=metrics,
           extra_metrics=lambda step: {}, desc='test')
  return metrics.rows


def test_training_logs_every_row_to_the_file_and_a_few_to_the_console():
  rows = _train(total_steps=900, log_every=20)
  assert [s for s, _ in rows] == [*range(20, 901, 20)]  # every 20 steps to the file
  echoed = [s for s, echo in rows if echo]
  assert echoed == [180, 360, 540, 720, 900]
  assert [s for s, echo in _train(12, 4) if echo] == [4, 8, 12]  # short runs: every row
  assert [s for s, echo in _train(550, 20, start=450) if echo] == [500, 550]  # resumed
