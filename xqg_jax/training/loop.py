"""The training loop shared by xDR and xQG: resume, step, log, checkpoint.

Batches are a pure function of the step (`batch_at(step)`), so a run resumed from a checkpoint
at step k sees exactly the batches an uninterrupted run sees from step k on.
"""

from typing import Any, Callable

from xqg_jax.io import progress
from xqg_jax.training import checkpoints as checkpoints_lib
from xqg_jax.training import metrics as metrics_lib

# Metrics rows logged to the console per run (every row goes to the metrics file).
CONSOLE_ROWS = 5


def run(state, *, step_fn: Callable, batch_at: Callable[[int], Any], total_steps: int,
        checkpoints: checkpoints_lib.Checkpoints, checkpoint_every: int, log_every: int,
        metrics: metrics_lib.MetricsWriter, extra_metrics: Callable[[int], dict],
        desc: str) -> Any:
  """Trains from `state.step` to `total_steps` (a progress bar named `desc`); returns the
  final state. Metrics are written every `log_every` steps, and about `CONSOLE_ROWS` of them
  logged to the console."""
  step = int(state.step)
  echo_every = log_every * max(1, total_steps // (CONSOLE_ROWS * log_every))
  steps_bar = progress.bar(desc=desc, total=total_steps, initial=step, unit='step')
  while step < total_steps:
    state, step_metrics = step_fn(state, batch_at(step))
    step += 1
    steps_bar.update()
    if step % log_every == 0 or step == total_steps:
      metrics.write(step, {**step_metrics, **extra_metrics(step)},
                    echo=step % echo_every == 0 or step == total_steps)
    if step % checkpoint_every == 0 or step == total_steps:
      checkpoints.save(step, state)
  steps_bar.close()
  return state
