"""Multi-head dot-product attention with logical axes, split into q / kv projection steps.

`MultiHeadAttention` projects queries and keys/values separately (`project_query`,
`project_key_value`), attends (`attend`) and projects back (`project_out`); `__call__` chains
them. Self-attention passes the same input twice; cross-attention passes the encoder output as
`inputs_kv`, and a KV cache can store what `project_key_value` returns.

The core calls `jax.nn.dot_product_attention`: for bf16 inputs it forms logits with fp32
accumulation (`preferred_element_type=float32`), applies bias and mask in fp32, runs the softmax
in fp32 and casts the probabilities back to the value dtype, so no casting is needed here. It
has no attention dropout, so when dropout is active the same computation is written out with
dropout on the probabilities (as in HF BERT).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from xqg_jax import common_types
from xqg_jax.layers import linears

_HEADS_AXES = (common_types.BATCH, common_types.LENGTH, common_types.HEADS, common_types.KV)


def padding_mask(key_mask: jax.Array) -> jax.Array:
  """`[B, S]` (nonzero = real token) -> boolean `[B, 1, 1, S]`: every query sees real keys."""
  return (key_mask != 0)[:, None, None, :]


def dot_product_attention(query: jax.Array, key: jax.Array, value: jax.Array, *,
                          mask: jax.Array | None = None, bias: jax.Array | None = None,
                          scale: float | None = None, dropout_rate: float = 0.0,
                          dropout_rng: jax.Array | None = None) -> jax.Array:
  """softmax(scale * q k^T + bias, masked) v per head, logits and softmax in fp32.

  Args:
    query: `[B, T, N, D]`.
    key: `[B, S, N, D]`.
    value: `[B, S, N, D]`.
    mask: boolean, broadcastable to `[B, N, T, S]`; True where a query may attend.
    bias: additive logit bias broadcastable to `[B, N, T, S]` (T5's relative positions).
    scale: logit scale; None means 1/sqrt(D) (T5 passes 1.0).
    dropout_rate: dropout on the attention probabilities, applied when `dropout_rng` is given.
    dropout_rng: PRNG key for that dropout; None means no dropout.

  Returns:
    `[B, T, N, D]` in the dtype of `value`.
  """
  if dropout_rng is None or dropout_rate == 0.0:
    return jax.nn.dot_product_attention(query, key, value, bias=bias, mask=mask, scale=scale)
  scale = query.shape[-1] ** -0.5 if scale is None else scale
  logits = jnp.einsum('btnd,bsnd->bnts', query, key, preferred_element_type=jnp.float32) * scale
  if bias is not None:
    logits = logits + bias.astype(jnp.float32)
  if mask is not None:
    logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
  probs = jax.nn.softmax(logits, axis=-1)
  keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, probs.shape)
  probs = jnp.where(keep, probs / (1.0 - dropout_rate), 0.0).astype(value.dtype)
  return jnp.einsum('bnts,bsnd->btnd', probs, value)


class MultiHeadAttention(nn.Module):
  """Multi-head attention with q/k/v kernels `[embed, heads, kv]` and out `[heads, kv, embed]`.

  Attributes:
    num_heads: number of heads.
    head_dim: size of each head.
    out_features: output size (the model width).
    use_bias: whether projections have biases (BERT yes, T5 no).
    scale: logit scale; None means 1/sqrt(head_dim).
    dropout_rate: attention-probability dropout.
    dtype: computation dtype.
    param_dtype: parameter dtype.
    kernel_init: initializer of the kernels (of all four unless overridden below).
    query_kernel_init: initializer of the query kernel; None means `kernel_init`.
    out_kernel_init: initializer of the output kernel; None means `kernel_init`.
  """
  num_heads: int
  head_dim: int
  out_features: int
  use_bias: bool = True
  scale: float | None = None
  dropout_rate: float = 0.0
  dtype: linears.DType = jnp.float32
  param_dtype: linears.DType = jnp.float32
  kernel_init: linears.Initializer = nn.initializers.normal(0.02)
  query_kernel_init: linears.Initializer | None = None
  out_kernel_init: linears.Initializer | None = None

  def setup(self):
    def dense(features, axis, kernel_axes, kernel_init=None):
      return linears.Dense(features, kernel_axes, axis=axis, use_bias=self.use_bias,
                           dtype=self.dtype, param_dtype=self.param_dtype,
                           kernel_init=kernel_init or self.kernel_init)
    heads = (self.num_heads, self.head_dim)
    in_axes = (common_types.EMBED, common_types.HEADS, common_types.KV)
    self.query = dense(heads, -1, in_axes, self.query_kernel_init)
    self.key = dense(heads, -1, in_axes)
    self.value = dense(heads, -1, in_axes)
    self.out = dense(self.out_features, (-2, -1),
                     (common_types.HEADS, common_types.KV, common_types.EMBED),
                     self.out_kernel_init)

  def project_query(self, inputs_q: jax.Array) -> jax.Array:
    """`[B, T, E]` -> queries `[B, T, N, D]`."""
    return nn.with_logical_constraint(self.query(inputs_q), _HEADS_AXES)

  def project_key_value(self, inputs_kv: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`[B, S, E]` -> keys and values, each `[B, S, N, D]`."""
    return (nn.with_logical_constraint(self.key(inputs_kv), _HEADS_AXES),
            nn.with_logical_constraint(self.value(inputs_kv), _HEADS_AXES))

  def attend(self, query: jax.Array, key: jax.Array, value: jax.Array, *,
             mask: jax.Array | None = None, bias: jax.Array | None = None,
             deterministic: bool = True) -> jax.Array:
    """Per-head attention `[B, T, N, D]`; draws the 'dropout' rng unless deterministic."""
    dropout_rng = None
    if not deterministic and self.dropout_rate > 0.0:
      dropout_rng = self.make_rng('dropout')
    out = dot_product_attention(query, key, value, mask=mask, bias=bias, scale=self.scale,
                                dropout_rate=self.dropout_rate, dropout_rng=dropout_rng)
    return nn.with_logical_constraint(out, _HEADS_AXES)

  def project_out(self, heads: jax.Array) -> jax.Array:
    """`[B, T, N, D]` -> `[B, T, out_features]`."""
    return nn.with_logical_constraint(
        self.out(heads), (common_types.BATCH, common_types.LENGTH, common_types.EMBED))

  def __call__(self, inputs_q: jax.Array, inputs_kv: jax.Array, *,
               mask: jax.Array | None = None, bias: jax.Array | None = None,
               deterministic: bool = True) -> jax.Array:
    """Attention of `inputs_q [B, T, E]` over `inputs_kv [B, S, E]`: `[B, T, out_features]`."""
    key, value = self.project_key_value(inputs_kv)
    heads = self.attend(self.project_query(inputs_q), key, value, mask=mask, bias=bias,
                        deterministic=deterministic)
    return self.project_out(heads)
