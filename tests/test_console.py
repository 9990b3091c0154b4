"""Libraries' INFO records are filtered from the console; ours, and every warning, pass."""

import logging

from absl import logging as absl_logging

from xqg_jax.io import console


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
