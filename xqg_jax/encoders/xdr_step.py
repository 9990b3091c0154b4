"""The xDR training step, with optional gradient caching (Gao et al., 2021).

With `chunks == 1` the loss is backpropagated through both towers at once. With `chunks > 1`
the step is gradient caching: (1) embed every chunk without keeping activations, (2) take the
loss and its gradient with respect to the embeddings over the whole batch (so every in-batch
negative is kept), (3) re-run each chunk's forward pass and pull the embedding gradient back
through it. The result equals the full-batch gradient, with activation memory of one chunk.
Dropout keys depend only on (seed, step, tower, chunk), so both passes see the same masks.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from xqg_jax.encoders import contrastive
from xqg_jax.models import bi_encoder
from xqg_jax.training import state as state_lib


def _chunked(batch: dict, chunks: int) -> dict:
  def split(x):
    if x.shape[0] % chunks:
      raise ValueError(f'batch of {x.shape[0]} rows does not split into {chunks} chunks')
    return x.reshape(chunks, x.shape[0] // chunks, *x.shape[1:])
  return jax.tree.map(split, batch)


def make_train_step(model: bi_encoder.BiEncoder, tx: optax.GradientTransformation, *,
                    group_size: int, chunks: int, seed: int) -> Callable:
  """`step(state, batch) -> (state, metrics)`; batch = {'query': {...}, 'passage': {...}}."""

  def embed(params, batch, method: str, rng):
    return model.apply({'params': params}, batch, method=method, deterministic=False,
                       rngs={'dropout': rng})

  def temperature(params):
    return model.apply({'params': params}, method=model.get_temperature)

  def loss_from_embeddings(q, p, params):
    return contrastive.info_nce(q, p, group_size, temperature(params))

  def grads_full(params, batch, rng):
    def loss_fn(params):
      q = embed(params, batch['query'], 'encode_query', jax.random.fold_in(rng, 0))
      p = embed(params, batch['passage'], 'encode_passage', jax.random.fold_in(rng, 1))
      return loss_from_embeddings(q, p, params)
    return jax.value_and_grad(loss_fn, has_aux=True)(params)

  def grads_cached(params, batch, rng):
    towers = (('query', 'encode_query', 0), ('passage', 'encode_passage', 1))
    chunked = {key: _chunked(batch[key], chunks) for key, _, _ in towers}
    keys = {key: jax.random.split(jax.random.fold_in(rng, i), chunks) for key, _, i in towers}

    def embed_all(key, method):
      out = jax.lax.map(lambda xs: embed(params, xs[0], method, xs[1]),
                        (chunked[key], keys[key]))
      return jax.lax.stop_gradient(out.reshape(-1, out.shape[-1]))

    q, p = embed_all('query', 'encode_query'), embed_all('passage', 'encode_passage')
    (loss, metrics), (dq, dp, grads) = jax.value_and_grad(
        loss_from_embeddings, argnums=(0, 1, 2), has_aux=True)(q, p, params)
    for (key, method, _), d in zip(towers, (dq, dp)):
      d = d.reshape(chunks, -1, d.shape[-1])

      def pull_back(acc, xs, method=method):
        chunk, chunk_key, chunk_grad = xs
        _, vjp = jax.vjp(lambda prm: embed(prm, chunk, method, chunk_key), params)
        return jax.tree.map(jnp.add, acc, vjp(chunk_grad)[0]), None

      grads, _ = jax.lax.scan(pull_back, grads, (chunked[key], keys[key], d))
    return (loss, metrics), grads

  compute = grads_full if chunks == 1 else grads_cached

  def step(state: state_lib.TrainState, batch: dict) -> tuple[state_lib.TrainState, Any]:
    rng = jax.random.fold_in(jax.random.key(seed), state.step)
    (_, metrics), grads = compute(state.params, batch, rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {**metrics, 'grad_norm': optax.tree.norm(grads),
               'temperature': temperature(state.params)}
    return state_lib.TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return step
