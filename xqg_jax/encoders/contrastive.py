"""InfoNCE over the positive, the hard negatives and every other query's passages.

Passages come in groups of `group_size` per query, positive first (Tevatron's layout), so the
target of query i is passage i * group_size. Under `jit` with batches sharded over the data
axis, `q @ p.T` spans the global batch: in-batch negatives come from every device and host.
"""

import jax
import jax.numpy as jnp


def info_nce(queries: jax.Array, passages: jax.Array, group_size: int,
             temperature: jax.Array) -> tuple[jax.Array, dict]:
  """Mean cross-entropy of each query against all passages; also accuracy and margin."""
  if passages.shape[0] != queries.shape[0] * group_size:
    raise ValueError(f'{passages.shape[0]} passages for {queries.shape[0]} queries; '
                     f'expected group_size={group_size} per query')
  scores = (jnp.asarray(queries, jnp.float32) @ jnp.asarray(passages, jnp.float32).T
            / temperature)
  targets = jnp.arange(queries.shape[0]) * group_size
  log_probs = jax.nn.log_softmax(scores, axis=-1)
  loss = -jnp.take_along_axis(log_probs, targets[:, None], axis=-1).mean()
  positive = jnp.take_along_axis(scores, targets[:, None], axis=-1)[:, 0]
  others = scores.at[jnp.arange(queries.shape[0]), targets].set(-jnp.inf)
  metrics = {'loss': loss,
             'accuracy': (jnp.argmax(scores, axis=-1) == targets).mean(),
             'margin': (positive - others.max(axis=-1)).mean()}
  return loss, metrics
