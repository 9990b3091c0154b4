"""T5's bucketed relative position bias (Raffel et al. 2020; HF `T5Attention.compute_bias`).

Each (query, key) pair gets a learned per-head logit bias looked up by the bucket of
`key_position - query_position`: exact buckets for small distances, log-spaced ones up to
`max_distance`, and one shared bucket beyond. Bidirectional attention (the encoder) spends half
of the buckets on keys after the query; causal attention (the decoder) only sees keys before it.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from xqg_jax import common_types
from xqg_jax.layers import linears


def relative_position_bucket(relative_position: jax.Array, *, bidirectional: bool,
                             num_buckets: int, max_distance: int) -> jax.Array:
  """Bucket ids in `[0, num_buckets)` of integer `key - query` distances (HF's formula, fp32)."""
  buckets = jnp.zeros_like(relative_position)
  if bidirectional:
    num_buckets //= 2
    buckets += (relative_position > 0).astype(relative_position.dtype) * num_buckets
    distance = jnp.abs(relative_position)
  else:
    distance = -jnp.minimum(relative_position, 0)
  max_exact = num_buckets // 2
  # Distance 0 gives log(0) = -inf here; `jnp.where` below never selects it.
  log_ratio = jnp.log(distance.astype(jnp.float32) / max_exact) / math.log(max_distance / max_exact)
  large = max_exact + (log_ratio * (num_buckets - max_exact)).astype(relative_position.dtype)
  large = jnp.minimum(large, num_buckets - 1)
  return buckets + jnp.where(distance < max_exact, distance, large)


class RelativePositionBias(nn.Module):
  """Additive attention bias `[b, heads, T, S]` (fp32) from query and key positions.

  Attributes:
    num_buckets: rows of the `[num_buckets, num_heads]` table ('embedding').
    max_distance: distances from here on share the last bucket.
    num_heads: attention heads.
    bidirectional: whether keys after the query get their own buckets.
    embedding_init: table initializer.
  """
  num_buckets: int
  max_distance: int
  num_heads: int
  bidirectional: bool
  embedding_init: linears.Initializer = nn.initializers.normal(1.0)

  @nn.compact
  def __call__(self, query_positions: jax.Array, key_positions: jax.Array) -> jax.Array:
    """`query_positions [b, T]` and `key_positions [b, S]` (b is 1 or the batch) -> bias."""
    table = self.param(
        'embedding', nn.with_logical_partitioning(self.embedding_init, (None, common_types.HEADS)),
        (self.num_buckets, self.num_heads), jnp.float32)
    buckets = relative_position_bucket(
        key_positions[:, None, :] - query_positions[:, :, None], bidirectional=self.bidirectional,
        num_buckets=self.num_buckets, max_distance=self.max_distance)
    return jnp.transpose(jnp.take(table, buckets, axis=0), (0, 3, 1, 2))
