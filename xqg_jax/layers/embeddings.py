"""`Embed`: a lookup table with logical axes, and `attend` for heads tied to it."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from xqg_jax import common_types
from xqg_jax.layers import linears


class Embed(nn.Module):
  """Embeds integer ids with a `[num_embeddings, features]` table stored in `param_dtype`.

  Attributes:
    num_embeddings: table rows (vocabulary, positions or token types).
    features: embedding size.
    axes: logical axes of the table; `(None, 'embed')` for small tables (positions, token
      types) that should stay replicated.
    dtype: dtype of the looked-up embeddings and of `attend`.
    param_dtype: table dtype.
    embedding_init: table initializer.
  """
  num_embeddings: int
  features: int
  axes: linears.LogicalAxes = (common_types.VOCAB, common_types.EMBED)
  dtype: linears.DType = jnp.float32
  param_dtype: linears.DType = jnp.float32
  embedding_init: linears.Initializer = nn.initializers.normal(0.02)

  def setup(self):
    self.embedding = self.param(
        'embedding', nn.with_logical_partitioning(self.embedding_init, self.axes),
        (self.num_embeddings, self.features), self.param_dtype)

  def __call__(self, ids: jax.Array) -> jax.Array:
    if not jnp.issubdtype(ids.dtype, jnp.integer):
      raise TypeError(f'Embed takes integer ids, got {ids.dtype}')
    return jnp.take(self.embedding, ids, axis=0).astype(self.dtype)

  def attend(self, query: jax.Array) -> jax.Array:
    """Scores `query [..., features]` against every row: `[..., num_embeddings]`."""
    return jnp.dot(query.astype(self.dtype), self.embedding.astype(self.dtype).T)
