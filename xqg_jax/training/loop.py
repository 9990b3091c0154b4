"""The training loop shared by xDR and xQG: resume, step, log, checkpoint.

Batches are a pure function of the step (`batch_at(step)`), so a run resumed from a checkpoint
at step k sees exactly the batches an uninterrupted run sees from step k on.
"""

from typing import Any, Callable

from xqg_jax.io import progress
from xqg_jax.training import checkpoints as checkpoints_lib
from xqg_jax.training import metrics as metrics_lib


def run(state, *, step_fn: Callable, batch_at: Callable[[int], Any], total_steps: int,
        checkpoints: checkpoints_lib.Checkpoints, checkpoint_every: int, log_every: int,
        metrics: metrics_lib.MetricsWriter, extra_metrics: Callable[[int], dict],
        desc: str) -> Any:
  """Trains from `state.step` to `total_steps` (a progress bar named `desc`); returns the
  final state."""
  step = int(state.step)
  steps_bar = progress.bar(desc=desc, total=total_steps, initial=step, unit='step')
  while step < total_steps:
    state, step_metrics = step_fn(state, batch_at(step))
    step += 1
    steps_bar.update()
    if step % log_every == 0 or step == total_steps:
      metrics.write(step, {**step_metrics, **extra_metrics(step)})
    if step % checkpoint_every == 0 or step == total_steps:
      checkpoints.save(step, state)
  steps_bar.close()
  return state
