"""The xQG training step: teacher-forced token cross-entropy, averaged over target tokens."""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from xqg_jax.training import state as state_lib


def token_loss(logits: jax.Array, labels: jax.Array, weights: jax.Array) -> tuple[
    jax.Array, dict]:
  """Weighted mean cross-entropy over tokens (fp32), with token accuracy."""
  logits = logits.astype(jnp.float32)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  total = jnp.maximum(weights.sum(), 1.0)
  loss = (losses * weights).sum() / total
  accuracy = ((logits.argmax(-1) == labels) * weights).sum() / total
  return loss, {'loss': loss, 'token_accuracy': accuracy, 'target_tokens': weights.sum()}


def make_train_step(model, tx: optax.GradientTransformation, *, seed: int) -> Callable:
  """`step(state, batch) -> (state, metrics)` for a `T5` model."""

  def step(state: state_lib.TrainState, batch: dict) -> tuple[state_lib.TrainState, Any]:
    rng = jax.random.fold_in(jax.random.key(seed), state.step)

    def loss_fn(params):
      logits = model.apply({'params': params}, batch['input_ids'], batch['attention_mask'],
                           batch['decoder_input_ids'], deterministic=False,
                           rngs={'dropout': rng})
      return token_loss(logits, batch['labels'], batch['weights'])

    (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    metrics = {**metrics, 'grad_norm': optax.tree.norm(grads)}
    return state_lib.TrainState(step=state.step + 1,
                                params=optax.apply_updates(state.params, updates),
                                opt_state=opt_state), metrics

  return step
