"""Orbax checkpoints of the train state under `workdir/.../checkpoints`, keep K, resume latest.

Saves are synchronous: a step's checkpoint is complete on disk before training goes on, so a
kill at any point resumes from the last finished save (orbax writes to a temporary directory
and renames it on completion, so a half-written step is never restored).
"""

import os

from etils import epath
import orbax.checkpoint as ocp


class Checkpoints:
  """Save/restore of one run's train state."""

  def __init__(self, directory, keep: int):
    path = os.fspath(directory)
    # orbax needs absolute paths; a relative --workdir is resolved against the cwd.
    self.directory = epath.Path(path if '://' in path else os.path.abspath(path))
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=False, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state) -> None:
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self._manager.wait_until_finished()

  def restore(self, target, step: int | None = None):
    """The state at `step` (default latest) laid out like `target` (abstract, with shardings)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'no checkpoint under {self.directory}')
    return self._manager.restore(step, args=ocp.args.StandardRestore(target))

  def close(self) -> None:
    self._manager.close()
