"""Decoder KV caches in the 'cache' variable collection, with `cache_*` logical axes.

Two kinds of entries, written from inside a module's compact method (MaxText's pattern):

- `append`: a buffer of `length` slots along axis 1 (self-attention keys / values, and the
  position of the token in each slot). Prefill creates it and writes the prompt at slot 0;
  each decode step writes its tokens at the current index.
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
# Per-token entries `[batch, length]` (positions, masks).
TOKEN_AXES = (common_types.CACHE_BATCH, common_types.CACHE_LENGTH)


def _require(module: nn.Module, name: str) -> None:
  if not module.has_variable(COLLECTION, name):
    raise ValueError(f'{module.path}: no {COLLECTION!r} entry {name!r}; run prefill first '
                     f'(mode=prefill with mutable=[{COLLECTION!r}])')


def append(module: nn.Module, name: str, value: jax.Array, index: jax.Array, *,
           length: int | None = None, fill: Any = 0, axes=KV_AXES) -> jax.Array:
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

  Returns:
    The whole buffer `[B, length, ...]` after the write.
  """
  if length is None:
    _require(module, name)
  elif length < value.shape[1]:
    raise ValueError(f'{module.path}: {value.shape[1]} entries do not fit a {name!r} cache of '
                     f'length {length}')
  shape = (value.shape[0], length) + value.shape[2:]
  variable = module.variable(COLLECTION, name, nn.with_logical_partitioning(jnp.full, axes),
                             shape, fill, value.dtype)
  buffer = jnp.full(shape, fill, value.dtype) if length is not None else variable.value
  buffer = lax.dynamic_update_slice_in_dim(buffer, value.astype(buffer.dtype), index, axis=1)
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
