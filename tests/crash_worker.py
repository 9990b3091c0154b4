"""Runs of `test_crash_safety`: the small-config pipeline, SIGKILLed at a chosen point.

`python -m tests.crash_worker` from the repository root imports the pipeline once, then for
each JSON line `{"workdir", "until", "kill_at", "log"}` on stdin forks a child that runs
`stages.run(config(), workdir, until=until)` with its output in `log`, and answers the child's
exit code (negative: killed by that signal) on a line of stdout. The parent never starts JAX,
so each child is a fresh JAX process; forking saves each run the imports.

`kill_at` (`KIND:GLOB:WHEN`, or null) makes the child kill itself with SIGKILL at the first
write whose path relative to `workdir` matches GLOB:

- `file`: an `atomic.atomic_open` write (`atomic.write_text` and the `.npy`, JSONL writers go
  through it); WHEN is `before` (nothing written), `during` (the temporary file is complete
  and flushed but not renamed) or `after` (renamed).
- `dir`: an `atomic.atomic_directory`; WHEN is `during` (filled, not renamed).
- `checkpoint`: an orbax save of step directory GLOB (e.g. `xdr/checkpoints/2`); WHEN is
  `during` (the temporary step directory is written, not committed) or `after` (committed).

The hooks are installed in the child only; production code has none.
"""

import contextlib
import fnmatch
import json
import os
import signal
import sys
import traceback

from etils import epath
from orbax.checkpoint._src.path import atomicity

from launch import stages
from tests.conftest import small_config
from xqg_jax.io import atomic
from xqg_jax.training import checkpoints

KINDS = {'file': ('before', 'during', 'after'), 'dir': ('during',),
         'checkpoint': ('during', 'after')}


def config():
  """`small_config` with an untrained xQG (its training is not under test) and the fusion of
  the languages it generates."""
  c = small_config()
  c.xqg.num_train_steps = 0
  c.augment.languages = tuple(c.generate.languages)
  c.augment.num_queries = c.generate.num_queries
  return c


def _die() -> None:
  sys.stdout.flush()
  sys.stderr.flush()
  os.kill(os.getpid(), signal.SIGKILL)


def install(workdir: str, kill_at: str) -> None:
  """Makes this process SIGKILL itself at the point `kill_at` (`KIND:GLOB:WHEN`) names."""
  kind, pattern, when = kill_at.split(':')
  if when not in KINDS.get(kind, ()):
    raise ValueError(f'kill_at={kill_at!r}: expected KIND:GLOB:WHEN with {KINDS}')
  root = os.path.abspath(workdir)

  def hit(path, at: str) -> bool:
    relative = os.path.relpath(os.path.abspath(os.fspath(path)), root)
    return at == when and fnmatch.fnmatch(relative, pattern)

  if kind == 'file':
    atomic_open = atomic.atomic_open

    @contextlib.contextmanager
    def killing_open(path, *args, **kwargs):
      if hit(path, 'before'):
        _die()
      with atomic_open(path, *args, **kwargs) as f:
        yield f
        if hit(path, 'during'):
          f.flush()
          _die()
      if hit(path, 'after'):
        _die()

    atomic.atomic_open = killing_open  # `write_text` and `write_bytes` look it up here too.
  elif kind == 'dir':
    atomic_directory = atomic.atomic_directory

    @contextlib.contextmanager
    def killing_directory(path):
      with atomic_directory(path) as tmp:
        yield tmp
        if hit(path, 'during'):
          _die()

    atomic.atomic_directory = killing_directory
  else:
    save = checkpoints.Checkpoints.save
    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    def killing_save(self, step, state):
      save(self, step, state)
      if hit(epath.Path(self.directory) / str(step), 'after'):
        _die()

    async def killing_finalize(self, *args, **kwargs):
      if hit(self.get_final(), 'during'):
        _die()
      return await finalize(self, *args, **kwargs)

    checkpoints.Checkpoints.save = killing_save
    atomicity.AtomicRenameTemporaryPath.finalize = killing_finalize


def _child(request: dict) -> None:
  """Runs one request in this (forked) process and exits."""
  code = 1
  try:
    fd = os.open(request['log'], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    if request['kill_at']:
      install(request['workdir'], request['kill_at'])
    stages.run(config(), request['workdir'], until=request['until'])
    code = 0
  except BaseException:  # pylint: disable=broad-exception-caught
    traceback.print_exc()
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # pylint: disable=protected-access


def main() -> None:
  for line in sys.stdin:
    request = json.loads(line)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
      _child(request)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == '__main__':
  main()
