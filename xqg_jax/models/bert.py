"""BERT and XLM-R encoders in Flax, numerically matching HF `BertModel` / `XLMRobertaModel`.

Post-LN transformer layers as in HF BERT. XLM-R is the same network except for position ids:
`cumsum(input_ids != pad) * (input_ids != pad) + pad_token_id`, HF's
`create_position_ids_from_input_ids`, so real tokens start at `pad_token_id + 1` and padding
sits at `pad_token_id`. Matmuls run in `config.dtype`; layer norms and softmax in fp32;
parameters are fp32. Every parameter and block output carries logical axis names.
"""

import dataclasses
from typing import Any, Mapping, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from xqg_jax import common_types
from xqg_jax import config_checks
from xqg_jax.layers import attention
from xqg_jax.layers import embeddings
from xqg_jax.layers import linears
from xqg_jax.layers import normalization
from xqg_jax.models import hf_config

MODEL_TYPES = ('bert', 'xlm-roberta')
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
# HF `architectures` written on export, and the base-model key prefix inside task checkpoints.
HF_ARCHITECTURES = {'bert': 'BertModel', 'xlm-roberta': 'XLMRobertaModel'}
HF_PREFIXES = {'bert': 'bert.', 'xlm-roberta': 'roberta.'}

# EncoderConfig fields that are also HF config keys (same names, same meaning).
_HF_FIELDS = ('vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads',
              'intermediate_size', 'hidden_act', 'max_position_embeddings', 'type_vocab_size',
              'layer_norm_eps', 'pad_token_id', 'hidden_dropout_prob',
              'attention_probs_dropout_prob', 'initializer_range')
# HF defaults that differ by model type (the others are BertConfig's, as ours).
_HF_TYPE_DEFAULTS = {'bert': {'pad_token_id': 0}, 'xlm-roberta': {'pad_token_id': 1}}
# HF architecture switches we do not implement -> the values we accept.
_HF_FIXED = {
    'position_embedding_type': ('absolute',),
    'is_decoder': (False,),
    'add_cross_attention': (False,),
    'cross_attention_hidden_size': (None,),
    'is_encoder_decoder': (False,),
    'chunk_size_feed_forward': (0,),
    'pruned_heads': ({},),
    'pooler_type': ('first_token_transform',),
}
_HF_IGNORED = hf_config.IGNORED_KEYS


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
  """A BERT / XLM-R encoder. Defaults are HF `BertConfig`'s.

  `add_pooler`, `dtype` ('float32' | 'bfloat16' computation) and `remat` (rematerialize each
  layer in the backward pass) are ours, not HF config keys.
  """
  model_type: str = 'bert'
  vocab_size: int = 30522
  hidden_size: int = 768
  num_hidden_layers: int = 12
  num_attention_heads: int = 12
  intermediate_size: int = 3072
  hidden_act: str = 'gelu'
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  pad_token_id: int = 0
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1
  initializer_range: float = 0.02
  add_pooler: bool = False
  dtype: str = 'float32'
  remat: bool = False

  def __post_init__(self):
    checks = (
        ('model_type', self.model_type in MODEL_TYPES, f'one of {MODEL_TYPES}'),
        ('hidden_act', self.hidden_act in linears.ACTIVATIONS,
         f'one of {sorted(linears.ACTIVATIONS)}'),
        ('dtype', self.dtype in DTYPES, f'one of {sorted(DTYPES)}'),
        ('hidden_size', self.hidden_size % max(self.num_attention_heads, 1) == 0,
         f'a multiple of num_attention_heads={self.num_attention_heads}'),
        ('pad_token_id', 0 <= self.pad_token_id < self.vocab_size,
         f'in [0, vocab_size={self.vocab_size})'),
        ('max_position_embeddings', self.model_type != 'xlm-roberta'
         or self.max_position_embeddings > self.pad_token_id + 1,
         f'> pad_token_id + 1 = {self.pad_token_id + 1} (XLM-R positions start there)'),
    )
    config_checks.check(self, checks, positive=(
        'vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads',
        'intermediate_size', 'max_position_embeddings', 'type_vocab_size'))

  @property
  def compute_dtype(self) -> jnp.dtype:
    return DTYPES[self.dtype]

  @property
  def head_dim(self) -> int:
    return self.hidden_size // self.num_attention_heads

  @classmethod
  def from_hf_dict(cls, d: Mapping[str, Any], **overrides) -> 'EncoderConfig':
    """The config of an HF `config.json` dict; `overrides` set our own fields (dtype, ...).

    Raises ValueError on an unsupported model_type, on an architecture switch we do not
    implement set to another value (naming it), and on any key that is neither a field, a
    switch nor known metadata.
    """
    model_type = d.get('model_type')
    if model_type not in MODEL_TYPES:
      raise ValueError(f'model_type={model_type!r} is not supported; supported: {MODEL_TYPES}')
    for key, accepted in _HF_FIXED.items():
      if key in d and d[key] not in accepted:
        raise ValueError(f'{key}={d[key]!r} is not supported (only {accepted[0]!r})')
    unknown = sorted(set(d) - set(_HF_FIELDS) - set(_HF_FIXED) - _HF_IGNORED - {'model_type'})
    if unknown:
      raise ValueError(f'unknown HF config keys {unknown}; if they do not change the '
                       f'architecture, add them to hf_config.IGNORED_KEYS')
    fields = {**_HF_TYPE_DEFAULTS[model_type], **{k: d[k] for k in _HF_FIELDS if k in d}}
    return cls(**{'model_type': model_type, **fields, **overrides})

  def to_hf_dict(self) -> dict[str, Any]:
    """The HF `config.json` dict for `BertModel` / `XLMRobertaModel`."""
    return {'architectures': [HF_ARCHITECTURES[self.model_type]],
            'model_type': self.model_type,
            'position_embedding_type': 'absolute',
            **{name: getattr(self, name) for name in _HF_FIELDS}}


# Size presets: EncoderConfig fields (vocab_size of 'mini' / 'minilm' is set from the tokenizer).
PRESETS: dict[str, dict[str, Any]] = {
    'mini': dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512),
    'minilm': dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                   intermediate_size=1536),
    'mbert-base': dict(model_type='bert', vocab_size=119547, hidden_size=768,
                       num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    'xlmr-base': dict(model_type='xlm-roberta', vocab_size=250002, hidden_size=768,
                      num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                      pad_token_id=1, max_position_embeddings=514, type_vocab_size=1,
                      layer_norm_eps=1e-5),
}


def preset_config(name: str, **overrides) -> EncoderConfig:
  """`EncoderConfig(**PRESETS[name], **overrides)`."""
  if name not in PRESETS:
    raise ValueError(f'unknown encoder preset {name!r}; known: {sorted(PRESETS)}')
  return EncoderConfig(**{**PRESETS[name], **overrides})


class EncoderOutput(NamedTuple):
  """What `Encoder` returns when `config.add_pooler`."""
  last_hidden_state: jax.Array  # [B, L, H]
  pooler_output: jax.Array  # [B, H]: tanh(dense(hidden state of the first token))


def _position_ids(config: EncoderConfig, input_ids: jax.Array) -> jax.Array:
  if config.model_type == 'xlm-roberta':
    real = (input_ids != config.pad_token_id).astype(jnp.int32)
    return jnp.cumsum(real, axis=1) * real + config.pad_token_id
  return jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)


class Embeddings(nn.Module):
  """Word + position + token-type embeddings (summed in fp32), LayerNorm, dropout."""
  config: EncoderConfig

  @nn.compact
  def __call__(self, input_ids, token_type_ids, *, deterministic: bool) -> jax.Array:
    cfg = self.config
    init = nn.initializers.normal(cfg.initializer_range)
    small_table = (None, common_types.EMBED)
    x = embeddings.Embed(cfg.vocab_size, cfg.hidden_size, embedding_init=init,
                         name='word_embeddings')(input_ids)
    x += embeddings.Embed(cfg.type_vocab_size, cfg.hidden_size, axes=small_table,
                          embedding_init=init, name='token_type_embeddings')(token_type_ids)
    x += embeddings.Embed(cfg.max_position_embeddings, cfg.hidden_size, axes=small_table,
                          embedding_init=init, name='position_embeddings')(
                              _position_ids(cfg, input_ids))
    x = normalization.LayerNorm(cfg.layer_norm_eps, dtype=cfg.compute_dtype,
                                name='layer_norm')(x)
    x = nn.Dropout(cfg.hidden_dropout_prob)(x, deterministic=deterministic)
    return nn.with_logical_constraint(
        x, (common_types.BATCH, common_types.LENGTH, common_types.EMBED))


class EncoderLayer(nn.Module):
  """Post-LN layer: x = LN(x + attn(x)); x = LN(x + out(act(intermediate(x))))."""
  config: EncoderConfig

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool) -> jax.Array:
    cfg = self.config
    dtype = cfg.compute_dtype
    init = nn.initializers.normal(cfg.initializer_range)
    attn = attention.MultiHeadAttention(
        cfg.num_attention_heads, cfg.head_dim, cfg.hidden_size,
        dropout_rate=cfg.attention_probs_dropout_prob, dtype=dtype, kernel_init=init,
        name='attention')(x, x, mask=mask, deterministic=deterministic)
    attn = nn.Dropout(cfg.hidden_dropout_prob)(attn, deterministic=deterministic)
    x = normalization.LayerNorm(cfg.layer_norm_eps, dtype=dtype,
                                name='attention_layer_norm')(x + attn)
    h = linears.Dense(cfg.intermediate_size, (common_types.EMBED, common_types.MLP),
                      dtype=dtype, kernel_init=init, name='intermediate')(x)
    h = nn.with_logical_constraint(linears.activation(cfg.hidden_act)(h),
                                   (common_types.BATCH, common_types.LENGTH, common_types.MLP))
    h = linears.Dense(cfg.hidden_size, (common_types.MLP, common_types.EMBED), dtype=dtype,
                      kernel_init=init, name='output')(h)
    h = nn.Dropout(cfg.hidden_dropout_prob)(h, deterministic=deterministic)
    x = normalization.LayerNorm(cfg.layer_norm_eps, dtype=dtype,
                                name='output_layer_norm')(x + h)
    return nn.with_logical_constraint(
        x, (common_types.BATCH, common_types.LENGTH, common_types.EMBED))


class Encoder(nn.Module):
  """The BERT / XLM-R encoder.

  Params: `embeddings/{word,position,token_type}_embeddings/embedding`,
  `embeddings/layer_norm`, `layer_{i}/{attention/{query,key,value,out},attention_layer_norm,
  intermediate,output,output_layer_norm}`, and `pooler` when `config.add_pooler`.
  """
  config: EncoderConfig

  @nn.compact
  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array,
               token_type_ids: jax.Array | None = None, *,
               deterministic: bool = True) -> jax.Array | EncoderOutput:
    """Encodes `[B, L]` int ids.

    Args:
      input_ids: `[B, L]` token ids.
      attention_mask: `[B, L]`, nonzero for real tokens; padded keys are never attended.
      token_type_ids: `[B, L]` segment ids; None means all 0.
      deterministic: False applies dropout, drawing the 'dropout' rng.

    Returns:
      The last hidden states `[B, L, H]` in `config.dtype`, or, when `config.add_pooler`, an
      `EncoderOutput(last_hidden_state, pooler_output)`.
    """
    cfg = self.config
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    x = Embeddings(cfg, name='embeddings')(input_ids, token_type_ids,
                                           deterministic=deterministic)
    mask = attention.padding_mask(attention_mask)
    # static_argnums counts `self`: 3 is `deterministic` of EncoderLayer.__call__.
    layer = nn.remat(EncoderLayer, static_argnums=(3,)) if cfg.remat else EncoderLayer
    for i in range(cfg.num_hidden_layers):
      x = layer(cfg, name=f'layer_{i}')(x, mask, deterministic)
    if not cfg.add_pooler:
      return x
    pooled = linears.Dense(cfg.hidden_size, (common_types.EMBED, common_types.MLP),
                           dtype=cfg.compute_dtype,
                           kernel_init=nn.initializers.normal(cfg.initializer_range),
                           name='pooler')(x[:, 0])
    pooled = nn.with_logical_constraint(jnp.tanh(pooled), (common_types.BATCH, common_types.EMBED))
    return EncoderOutput(x, pooled)
