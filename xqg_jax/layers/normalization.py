"""Layer normalizations computed in fp32: `LayerNorm` (BERT) and `RMSNorm` (T5)."""

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp

from xqg_jax import common_types
from xqg_jax.layers import linears


class LayerNorm(nn.Module):
  """(x - mean) / sqrt(var + epsilon) * scale + bias over the last axis, in fp32.

  The result is cast to `dtype`. Parameters carry the logical axis `('embed',)`.
  """
  epsilon: float = 1e-12
  dtype: linears.DType = jnp.float32
  param_dtype: linears.DType = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    features = (x.shape[-1],)
    axes = (common_types.EMBED,)
    scale = self.param('scale', nn.with_logical_partitioning(nn.initializers.ones_init(), axes),
                       features, self.param_dtype)
    bias = self.param('bias', nn.with_logical_partitioning(nn.initializers.zeros_init(), axes),
                      features, self.param_dtype)
    x = x.astype(jnp.float32)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    y = (x - mean) * lax.rsqrt(var + self.epsilon)
    return (y * scale.astype(jnp.float32) + bias.astype(jnp.float32)).astype(self.dtype)


class RMSNorm(nn.Module):
  """T5's layer norm: x / sqrt(mean(x^2) + epsilon) * scale, no mean and no bias, in fp32."""
  epsilon: float = 1e-6
  dtype: linears.DType = jnp.float32
  param_dtype: linears.DType = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    scale = self.param(
        'scale', nn.with_logical_partitioning(nn.initializers.ones_init(), (common_types.EMBED,)),
        (x.shape[-1],), self.param_dtype)
    x = x.astype(jnp.float32)
    y = x * lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + self.epsilon)
    return (y * scale.astype(jnp.float32)).astype(self.dtype)
