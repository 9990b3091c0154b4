"""Decoder KV caches in the 'cache' variable collection, with `cache_*` logical axes.

Two kinds of entries, written from inside a module's compact method (MaxText's pattern):

- `append`: a buffer of `length` slots along axis 1 or `axis` (self-attention keys / values,
  and the position of the token in each slot). Prefill creates it and writes the prompt at
  slot 0; each decode step writes its tokens at the current index.
- `stored`: an array computed once at prefill and read back by every decode step
  (cross-attention keys / values of the encoder output, the encoder mask).

Run prefill with `mutable=['cache']` on a fresh cache, then decode with the returned cache.
"""

from typing import Any

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp

from xqg_jax import common_types

COLLECTION = 'cache'
# Keys / values `[batch, length, heads, kv]`.
KV_AXES = (common_types.CACHE_BATCH, common_types.CACHE_LENGTH, common_types.CACHE_HEADS,
           common_types.CACHE_KV)
# Keys / values `[batch, heads, length, kv]` (append along axis 2) and `[batch, heads, kv,
# length]`: XLA:CPU's attention dots read these in place, where they transpose the whole
# `KV_AXES` layout at every decode step.
KV_AXES_HEADS_MAJOR = (common_types.CACHE_BATCH, common_types.CACHE_HEADS,
                       common_types.CACHE_LENGTH, common_types.CACHE_KV)
KV_AXES_LENGTH_MINOR = (common_types.CACHE_BATCH, common_types.CACHE_HEADS,
                        common_types.CACHE_KV, common_types.CACHE_LENGTH)
# Per-token entries `[batch, length]` (positions, masks).
TOKEN_AXES = (common_types.CACHE_BATCH, common_types.CACHE_LENGTH)


def _require(module: nn.Module, name: str) -> None:
  if not module.has_variable(COLLECTION, name):
    raise ValueError(f'{module.path}: no {COLLECTION!r} entry {name!r}; run prefill first '
                     f'(mode=prefill with mutable=[{COLLECTION!r}])')


def append(module: nn.Module, name: str, value: jax.Array, index: jax.Array, *,
           length: int | None = None, fill: Any = 0, axes=KV_AXES, axis: int = 1) -> jax.Array:
  """Writes `value [B, T, ...]` at slots `[index, index + T)` of buffer `name`; returns it.

  Args:
    module: the module whose cache holds the buffer (call from its compact method).
    name: the buffer's variable name.
    value: the new entries.
    index: the first slot written (a scalar, traced or not).
    length: prefill: (re)create the buffer with this many slots, all `fill`. None: decode;
      the buffer must exist. Writes past the last slot are clamped by XLA, so callers keep
      `index + T <= length`.
    fill: the value of unwritten slots.
    axes: logical axes of the buffer.
    axis: the slot axis of `value` and of the buffer (T above; 2 for `KV_AXES_HEADS_MAJOR`).

  Returns:
    The whole buffer (`length` slots along `axis`) after the write.
  """
  if length is None:
    _require(module, name)
  elif length < value.shape[axis]:
    raise ValueError(f'{module.path}: {value.shape[axis]} entries do not fit a {name!r} cache '
                     f'of length {length}')
  shape = value.shape[:axis] + (length,) + value.shape[axis + 1:]
  variable = module.variable(COLLECTION, name, nn.with_logical_partitioning(jnp.full, axes),
                             shape, fill, value.dtype)
  buffer = jnp.full(shape, fill, value.dtype) if length is not None else variable.value
  buffer = lax.dynamic_update_slice_in_dim(buffer, value.astype(buffer.dtype), index, axis=axis)
  variable.value = nn.with_logical_constraint(buffer, axes)
  return variable.value


def stored(module: nn.Module, name: str, value: jax.Array | None = None, *,
           axes=KV_AXES) -> jax.Array:
  """Stores `value` as cache entry `name` (prefill), or returns the stored one (None: decode)."""
  if value is None:
    _require(module, name)
    return module.variable(COLLECTION, name).value
  variable = module.variable(COLLECTION, name, nn.with_logical_partitioning(lambda: value, axes))
  variable.value = nn.with_logical_constraint(value, axes)
  return variable.value
