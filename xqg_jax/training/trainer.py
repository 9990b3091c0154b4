"""One training driver for every model: sharded state, resume order, jitted step, loop.

Resume order (big_vision/MaxText): the workdir's latest checkpoint, else pretrained weights for
named parameter subtrees (an HF import), else the fresh initialisation.
"""

import dataclasses
from typing import Any, Callable

from absl import logging
from etils import epath
from flax import linen as nn
import jax
import optax

from xqg_jax.training import checkpoints as checkpoints_lib
from xqg_jax.training import loop
from xqg_jax.training import metrics as metrics_lib
from xqg_jax.training import state as state_lib


@dataclasses.dataclass(frozen=True)
class Schedule:
  """How long to train and how often to log and checkpoint."""
  total_steps: int
  checkpoint_every: int
  keep_checkpoints: int
  log_every: int
  examples_per_step: int


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  """Full batches per epoch (the remainder is dropped); at least one is required."""
  if num_examples < batch_size:
    raise ValueError(f'{num_examples} training examples are fewer than one batch of '
                     f'{batch_size}')
  return num_examples // batch_size


def total_steps(num_train_steps: int, epochs: int, per_epoch: int) -> int:
  """`num_train_steps` when >= 0 (0: no training, the untrained baseline), else epochs."""
  return num_train_steps if num_train_steps >= 0 else epochs * per_epoch


def batches_by_step(make_epoch: Callable[[int], Any], per_epoch: int) -> Callable[[int], Any]:
  """`step -> host batch` over per-epoch datasets (`make_epoch(epoch)[index]`), keeping the
  current epoch's dataset."""
  current: dict[int, Any] = {}

  def batch_at(step: int):
    epoch, index = divmod(step, per_epoch)
    if epoch not in current:
      current.clear()
      current[epoch] = make_epoch(epoch)
    return current[epoch][index]

  return batch_at


def fit(out_dir, *, seed: int, mesh, rules, init_params: Callable[[jax.Array], Any],
        tx: optax.GradientTransformation, learning_rate: optax.Schedule,
        make_step: Callable[[], Callable], batch_at: Callable[[int], Any], schedule: Schedule,
        pretrained: dict[str, Any] | None = None, stop_at: int | None = None):
  """Trains from the latest checkpoint under `out_dir/checkpoints` (or from scratch /
  `pretrained`) to `schedule.total_steps`, or to `stop_at` when given; returns the state."""
  out_dir = epath.Path(out_dir)
  rng = jax.random.key(seed)
  checkpoints = checkpoints_lib.Checkpoints(out_dir / 'checkpoints', schedule.keep_checkpoints)
  state, shardings = state_lib.create(init_params, tx, mesh, rules, rng)
  if checkpoints.latest_step() is not None:
    state = checkpoints.restore(state_lib.abstract(shardings, init_params, tx, rng))
    logging.info('%s: resumed from step %d', out_dir, int(state.step))
  elif pretrained:
    params = dict(state.params)
    for name, subtree in pretrained.items():
      params[name] = jax.device_put(subtree, shardings.params[name])
    state = state.replace(params=params)
    logging.info('%s: initialised %s from pretrained weights', out_dir, sorted(pretrained))
  step_fn = jax.jit(make_step(), out_shardings=(shardings, None), donate_argnums=0)
  metrics = metrics_lib.MetricsWriter(out_dir / 'metrics.jsonl', schedule.examples_per_step,
                                      int(state.step))
  end = schedule.total_steps if stop_at is None else min(stop_at, schedule.total_steps)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    state = loop.run(state, step_fn=step_fn, batch_at=batch_at, total_steps=end,
                     checkpoints=checkpoints, checkpoint_every=schedule.checkpoint_every,
                     log_every=schedule.log_every, metrics=metrics,
                     extra_metrics=lambda s: {'learning_rate': learning_rate(s - 1)},
                     desc=f'train {out_dir.name}')
  checkpoints.close()
  return state
