"""Optimizers from config: AdamW or Adafactor, warmup + linear decay, clipping, decay mask."""

import flax
from flax.core import meta
import jax
import optax


def schedule(learning_rate: float, total_steps: int, warmup_steps: int,
             decay_ratio: float = 1.0) -> optax.Schedule:
  """Linear warmup from 0 to `learning_rate`, constant, then linear decay to 0 at
  `total_steps` over the last `decay_ratio` of the steps after warmup (1: decay all the way,
  the usual linear schedule; less keeps the rate high for longer, warmup-stable-decay)."""
  if not 0.0 <= decay_ratio <= 1.0:
    raise ValueError(f'decay_ratio must be in [0, 1], got {decay_ratio}')
  warmup_steps = max(0, min(warmup_steps, total_steps))
  decay_steps = round(decay_ratio * (total_steps - warmup_steps))
  stable_end = total_steps - decay_steps
  return optax.join_schedules(
      [optax.linear_schedule(0.0, learning_rate, max(warmup_steps, 1)),
       optax.constant_schedule(learning_rate),
       optax.linear_schedule(learning_rate, 0.0, max(decay_steps, 1))],
      [warmup_steps, stable_end])


def decay_mask(params) -> dict:
  """True for weights that take weight decay: not biases, norm scales or temperatures."""
  flat = flax.traverse_util.flatten_dict(params)
  skip = ('bias', 'scale', 'log_temperature')
  return flax.traverse_util.unflatten_dict(
      {path: not any(part in skip for part in path) and jax.numpy.ndim(meta.unbox(leaf)) > 1
       for path, leaf in flat.items()})


KINDS = ('adamw', 'adafactor')


def make(kind: str, learning_rate: float, total_steps: int, warmup_steps: int,
         weight_decay: float, max_grad_norm: float,
         decay_ratio: float = 1.0) -> optax.GradientTransformation:
  """The optimizer chain; `kind` is 'adamw' or 'adafactor'; the rate follows `schedule`."""
  lr = schedule(learning_rate, total_steps, warmup_steps, decay_ratio)
  if kind == 'adamw':
    opt = optax.adamw(lr, weight_decay=weight_decay, mask=decay_mask)
  elif kind == 'adafactor':
    opt = optax.adafactor(lr, weight_decay_rate=weight_decay or None,
                          weight_decay_mask=decay_mask)
  else:
    raise ValueError(f'optimizer must be one of {KINDS}, got {kind!r}')
  clip = optax.clip_by_global_norm(max_grad_norm) if max_grad_norm > 0 else optax.identity()
  return optax.chain(clip, opt)
