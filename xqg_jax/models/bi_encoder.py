"""The xDR bi-encoder: query and passage towers, pooling, optional L2 norm, temperature.

`tied=True` shares one `encoder` tower (DPR/Tevatron's shared encoder); `tied=False` has
separate `query` and `passage` towers. score(q, p) = <E_q(q), E_p(p)>.
"""

from typing import Mapping

from flax import linen as nn
import jax
import jax.numpy as jnp

from xqg_jax import common_types
from xqg_jax.models import bert

Batch = Mapping[str, jax.Array]  # input_ids, attention_mask[, token_type_ids]
POOLINGS = ('cls', 'mean')


def pool(hidden: jax.Array, attention_mask: jax.Array, pooling: str) -> jax.Array:
  """[B, L, H] -> [B, H] by the first token or the mask-weighted mean, in fp32."""
  hidden = hidden.astype(jnp.float32)
  if pooling == 'cls':
    return hidden[:, 0]
  if pooling == 'mean':
    mask = attention_mask.astype(jnp.float32)[..., None]
    return (hidden * mask).sum(1) / jnp.maximum(mask.sum(1), 1.0)
  raise ValueError(f'pooling must be one of {POOLINGS}, got {pooling!r}')


class BiEncoder(nn.Module):
  """Two towers over `bert.Encoder`; `encode_query`/`encode_passage` return [B, H] fp32."""
  encoder: bert.EncoderConfig
  pooling: str = 'cls'
  normalize: bool = False
  tied: bool = True
  temperature: float = 1.0
  learn_temperature: bool = False

  def setup(self):
    if self.pooling not in POOLINGS:
      raise ValueError(f'pooling must be one of {POOLINGS}, got {self.pooling!r}')
    if self.tied:
      self.shared = bert.Encoder(self.encoder, name='encoder')
    else:
      self.query = bert.Encoder(self.encoder, name='query')
      self.passage = bert.Encoder(self.encoder, name='passage')
    if self.learn_temperature:
      self.log_temperature = self.param('log_temperature', nn.initializers.constant(
          jnp.log(self.temperature)), ())

  def _embed(self, tower: nn.Module, batch: Batch, deterministic: bool) -> jax.Array:
    out = tower(batch['input_ids'], batch['attention_mask'], batch.get('token_type_ids'),
                deterministic=deterministic)
    hidden = out[0] if isinstance(out, tuple) else out
    emb = pool(hidden, batch['attention_mask'], self.pooling)
    if self.normalize:
      emb = emb / jnp.maximum(jnp.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)
    return nn.with_logical_constraint(emb, (common_types.BATCH, common_types.EMBED))

  def encode_query(self, batch: Batch, *, deterministic: bool = True) -> jax.Array:
    return self._embed(self.shared if self.tied else self.query, batch, deterministic)

  def encode_passage(self, batch: Batch, *, deterministic: bool = True) -> jax.Array:
    return self._embed(self.shared if self.tied else self.passage, batch, deterministic)

  def get_temperature(self) -> jax.Array:
    if self.learn_temperature:
      return jnp.exp(self.log_temperature)
    return jnp.asarray(self.temperature, jnp.float32)

  def __call__(self, queries: Batch, passages: Batch, *, deterministic: bool = True):
    """(query embeddings, passage embeddings, temperature): used for init and training."""
    return (self.encode_query(queries, deterministic=deterministic),
            self.encode_passage(passages, deterministic=deterministic), self.get_temperature())
