"""mT5 / T5 in Flax, numerically matching HF `MT5ForConditionalGeneration` / `T5ForConditional...`.

Pre-RMSNorm encoder-decoder with bucketed relative position biases (computed once per stack,
as HF does in its first layer), attention without 1/sqrt(d) scaling, a gated-GELU (or ReLU)
feed-forward, and an untied `lm_head` (mT5, T5 v1.1) or logits from the shared embedding
scaled by d_model**-0.5 (original T5). Matmuls run in `config.dtype`, norms and softmax in fp32,
parameters are fp32. `decode` has three modes (`common_types.MODE_*`): train (teacher forcing),
prefill (the decoder prefix; creates the 'cache' collection: self-attention keys / values,
their positions, cross-attention keys / values and the encoder mask) and decode (tokens
appended to that cache; one per call in `generation.decoding`).
"""

import dataclasses
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from xqg_jax import common_types
from xqg_jax import config_checks
from xqg_jax.layers import attention
from xqg_jax.layers import embeddings
from xqg_jax.layers import kv_cache
from xqg_jax.layers import linears
from xqg_jax.layers import normalization
from xqg_jax.layers import relative_position
from xqg_jax.models import bert
from xqg_jax.models import hf_config

MODEL_TYPES = ('t5', 'mt5')
HF_ARCHITECTURES = {'t5': 'T5ForConditionalGeneration', 'mt5': 'MT5ForConditionalGeneration'}
_HF_FIELDS = ('vocab_size', 'd_model', 'd_kv', 'd_ff', 'num_layers', 'num_decoder_layers',
              'num_heads', 'relative_attention_num_buckets', 'relative_attention_max_distance',
              'dropout_rate', 'layer_norm_epsilon', 'feed_forward_proj', 'pad_token_id',
              'eos_token_id', 'decoder_start_token_id')
_HF_FIXED = {'is_encoder_decoder': (True,), 'is_decoder': (False,), 'tie_encoder_decoder': (False,),
             'add_cross_attention': (False,), 'cross_attention_hidden_size': (None,),
             'chunk_size_feed_forward': (0,), 'pruned_heads': ({},)}
# HF metadata / generation / runtime keys (shared with BERT configs), T5's unused ones, and the
# activation fields HF derives from feed_forward_proj (checked against it).
_HF_IGNORED = hf_config.IGNORED_KEYS | {
    'initializer_factor', 'n_positions', 'dense_act_fn', 'is_gated_act'}
# transformers 5 writes both; for 't5' they decide tying and logit scaling.
_TIE_KEYS = ('tie_word_embeddings', 'scale_decoder_outputs')
EMPTY_POSITION = 2 ** 30  # Position of unwritten cache slots: after every query, so masked.

_HIDDEN_AXES = (common_types.BATCH, common_types.LENGTH, common_types.EMBED)


@dataclasses.dataclass(frozen=True)
class T5Config:
  """A T5 / mT5 encoder-decoder. Defaults are mT5-small's, vocabulary included.

  `tie_word_embeddings=True` is original T5: logits = shared embedding . (h * d_model**-0.5).
  `dtype` ('float32' | 'bfloat16' computation) and `remat` (rematerialize each layer in the
  backward pass) are ours, not HF keys.
  """
  model_type: str = 'mt5'
  vocab_size: int = 250112
  d_model: int = 512
  d_kv: int = 64
  d_ff: int = 1024
  num_layers: int = 8
  num_decoder_layers: int = 8
  num_heads: int = 6
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  dropout_rate: float = 0.1
  layer_norm_epsilon: float = 1e-6
  feed_forward_proj: str = 'gated-gelu'
  tie_word_embeddings: bool = False
  pad_token_id: int = 0
  eos_token_id: int = 1
  decoder_start_token_id: int = 0
  dtype: str = 'float32'
  remat: bool = False

  def __post_init__(self):
    proj = self.feed_forward_proj.split('-')
    checks = (
        ('model_type', self.model_type in MODEL_TYPES, f'one of {MODEL_TYPES}'),
        ('dtype', self.dtype in bert.DTYPES, f'one of {sorted(bert.DTYPES)}'),
        ('feed_forward_proj', len(proj) == 1 or (len(proj) == 2 and proj[0] == 'gated'),
         "'ACT' or 'gated-ACT'"),
        ('feed_forward_proj', self.dense_act_fn in linears.ACTIVATIONS,
         f'[gated-]ACT with ACT one of {sorted(linears.ACTIVATIONS)}'),
        ('tie_word_embeddings', not (self.tie_word_embeddings and self.model_type == 'mt5'),
         "False for model_type='mt5' (transformers 5 never scales mT5 logits; use 't5')"),
        ('relative_attention_max_distance',
         self.relative_attention_max_distance > self.relative_attention_num_buckets // 2,
         f'> relative_attention_num_buckets // 2 = {self.relative_attention_num_buckets // 2}'),
        ('relative_attention_num_buckets', self.relative_attention_num_buckets >= 4, '>= 4'),
    )
    checks += tuple((name, isinstance(getattr(self, name), int)
                     and 0 <= getattr(self, name) < self.vocab_size,
                     f'a token id in [0, vocab_size={self.vocab_size})')
                    for name in ('pad_token_id', 'eos_token_id', 'decoder_start_token_id'))
    config_checks.check(self, checks, positive=(
        'vocab_size', 'd_model', 'd_kv', 'd_ff', 'num_layers', 'num_decoder_layers',
        'num_heads'))

  @property
  def compute_dtype(self) -> jnp.dtype:
    return bert.DTYPES[self.dtype]

  @property
  def is_gated_act(self) -> bool:
    return self.feed_forward_proj.startswith('gated-')

  @property
  def dense_act_fn(self) -> str:
    """HF's activation name: the last part of feed_forward_proj; 'gated-gelu' is gelu_new."""
    if self.feed_forward_proj == 'gated-gelu':
      return 'gelu_new'
    return self.feed_forward_proj.split('-')[-1]

  @classmethod
  def from_hf_dict(cls, d: Mapping[str, Any], **overrides) -> 'T5Config':
    """The config of an HF `config.json` dict; `overrides` set any field (dtype, ...).

    Tying follows transformers 5: for 't5', `scale_decoder_outputs` (else tie_word_embeddings,
    default True) decides; 'mt5' configs always say tie_word_embeddings=True there but mean an
    untied, unscaled head, so it is ignored. Raises ValueError on an unsupported model_type,
    an unsupported switch value (naming it), derived activation keys that disagree with
    feed_forward_proj, and unknown keys.
    """
    model_type = d.get('model_type')
    if model_type not in MODEL_TYPES:
      raise ValueError(f'model_type={model_type!r} is not supported; supported: {MODEL_TYPES}')
    for key, accepted in _HF_FIXED.items():
      if key in d and d[key] not in accepted:
        raise ValueError(f'{key}={d[key]!r} is not supported (only {accepted[0]!r})')
    unknown = sorted(set(d) - set(_HF_FIELDS) - set(_HF_FIXED) - _HF_IGNORED - set(_TIE_KEYS)
                     - {'model_type'})
    if unknown:
      raise ValueError(f'unknown HF config keys {unknown}; if they do not change the '
                       f'architecture, add them to t5._HF_IGNORED')
    fields = {k: d[k] for k in _HF_FIELDS if d.get(k) is not None}
    fields.setdefault('num_decoder_layers', fields.get('num_layers', cls.num_layers))
    if model_type == 't5':
      fields['tie_word_embeddings'] = bool(d.get('scale_decoder_outputs',
                                                 d.get('tie_word_embeddings', True)))
    config = cls(**{'model_type': model_type, **fields, **overrides})
    for key in ('dense_act_fn', 'is_gated_act'):
      if key in d and d[key] != getattr(config, key):
        raise ValueError(f'{key}={d[key]!r} disagrees with feed_forward_proj='
                         f'{config.feed_forward_proj!r} (which means {getattr(config, key)!r})')
    return config

  def to_hf_dict(self) -> dict[str, Any]:
    """The HF `config.json` dict for `T5ForConditionalGeneration` / `MT5ForConditional...`."""
    return {'architectures': [HF_ARCHITECTURES[self.model_type]],
            'model_type': self.model_type,
            'is_encoder_decoder': True,
            **{key: self.tie_word_embeddings
               for key in (_TIE_KEYS if self.model_type == 't5' else _TIE_KEYS[:1])},
            **{name: getattr(self, name) for name in _HF_FIELDS}}


# Size presets: T5Config fields (vocab_size of 'tiny' is set from the tokenizer).
PRESETS: dict[str, dict[str, Any]] = {
    'mini': dict(d_model=128, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=32,
                 d_ff=512),
    # Half of `mini`'s width with a gated-ReLU MLP: the tiny generator, ~2x faster steps on
    # CPU and as fast to learn how scripts spell names (BUILD_NOTES).
    'micro': dict(d_model=64, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=16,
                  d_ff=256, feed_forward_proj='gated-relu'),
    'tiny': dict(d_model=256, num_layers=4, num_decoder_layers=4, num_heads=4, d_kv=64,
                 d_ff=1024),
    'mt5-small': dict(vocab_size=250112, d_model=512, num_layers=8, num_decoder_layers=8,
                      num_heads=6, d_kv=64, d_ff=1024),
    'mt5-base': dict(vocab_size=250112, d_model=768, num_layers=12, num_decoder_layers=12,
                     num_heads=12, d_kv=64, d_ff=2048),
}


def preset_config(name: str, **overrides) -> T5Config:
  """`T5Config(**PRESETS[name], **overrides)`."""
  if name not in PRESETS:
    raise ValueError(f'unknown T5 preset {name!r}; known: {sorted(PRESETS)}')
  return T5Config(**{**PRESETS[name], **overrides})


def _normal(std: float) -> linears.Initializer:
  return nn.initializers.normal(std)


def _norm(cfg: T5Config, name: str) -> normalization.RMSNorm:
  return normalization.RMSNorm(cfg.layer_norm_epsilon, dtype=cfg.compute_dtype, name=name)


def _attention(cfg: T5Config, name: str) -> attention.MultiHeadAttention:
  """T5 attention: no biases, no logit scaling; HF's (Mesh TF's) initializer scales."""
  return attention.MultiHeadAttention(
      cfg.num_heads, cfg.d_kv, cfg.d_model, use_bias=False, scale=1.0,
      dropout_rate=cfg.dropout_rate, dtype=cfg.compute_dtype,
      kernel_init=_normal(cfg.d_model ** -0.5),
      query_kernel_init=_normal((cfg.d_model * cfg.d_kv) ** -0.5),
      out_kernel_init=_normal((cfg.num_heads * cfg.d_kv) ** -0.5), name=name)


def _position_bias(cfg: T5Config, bidirectional: bool) -> relative_position.RelativePositionBias:
  return relative_position.RelativePositionBias(
      cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance, cfg.num_heads,
      bidirectional, embedding_init=_normal(cfg.d_model ** -0.5), name='relative_position_bias')


class MLP(nn.Module):
  """wo(dropout(act(wi_0 x) * wi_1 x)) when gated, else wo(dropout(act(wi x)))."""
  config: T5Config

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    cfg = self.config

    def dense(features, axes, fan_in, name):
      return linears.Dense(features, axes, use_bias=False, dtype=cfg.compute_dtype,
                           kernel_init=_normal(fan_in ** -0.5), name=name)
    act = linears.activation(cfg.dense_act_fn)
    wi_axes = (common_types.EMBED, common_types.MLP)
    if cfg.is_gated_act:
      h = (act(dense(cfg.d_ff, wi_axes, cfg.d_model, 'wi_0')(x))
           * dense(cfg.d_ff, wi_axes, cfg.d_model, 'wi_1')(x))
    else:
      h = act(dense(cfg.d_ff, wi_axes, cfg.d_model, 'wi')(x))
    h = nn.with_logical_constraint(h, (common_types.BATCH, common_types.LENGTH, common_types.MLP))
    h = nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
    return dense(cfg.d_model, (common_types.MLP, common_types.EMBED), cfg.d_ff, 'wo')(h)


def _residual(cfg: T5Config, x: jax.Array, h: jax.Array, deterministic: bool) -> jax.Array:
  h = nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
  return nn.with_logical_constraint(x + h, _HIDDEN_AXES)


class EncoderLayer(nn.Module):
  """x += attn(norm(x)); x += mlp(norm(x))."""
  config: T5Config

  @nn.compact
  def __call__(self, x, mask, bias, deterministic: bool) -> jax.Array:
    cfg = self.config
    h = _norm(cfg, 'self_attention_norm')(x)
    h = _attention(cfg, 'self_attention')(h, h, mask=mask, bias=bias, deterministic=deterministic)
    x = _residual(cfg, x, h, deterministic)
    return _residual(cfg, x, MLP(cfg, name='mlp')(_norm(cfg, 'mlp_norm')(x), deterministic),
                     deterministic)


def _append_kv(module: nn.Module, name: str, x: jax.Array, index, cache_length: int | None,
               heads_major: bool) -> jax.Array:
  """Appends keys / values `[B, T, N, D]` to cache buffer `name`; returns it as `[B, L, N, D]`.

  Heads-major buffers are `[B, N, L, D]`; the transposes fold into the attention dots.
  """
  if not heads_major:
    return kv_cache.append(module, name, x, index, length=cache_length)
  buffer = kv_cache.append(module, name, jnp.swapaxes(x, 1, 2), index, length=cache_length,
                           axes=kv_cache.KV_AXES_HEADS_MAJOR, axis=2)
  return jnp.swapaxes(buffer, 1, 2)


def _stored_kv(module: nn.Module, name: str, x: jax.Array | None,
               heads_major: bool) -> jax.Array:
  """Stores keys / values `[B, S, N, D]` as cache entry `name`, or reads them back (x None).

  Heads-major entries are `[B, N, D, S]`: the layout that XLA:CPU's grouped attention dots
  (`_attend_shared`) read in place. The read sits behind an optimization barrier, or XLA lays
  the loop-invariant entry out as its producer `[B, S, N, D]` and transposes it every step.
  """
  if not heads_major:
    return kv_cache.stored(module, name, x)
  if x is None:
    stored = jax.lax.optimization_barrier(
        kv_cache.stored(module, name, axes=kv_cache.KV_AXES_LENGTH_MINOR))
  else:
    stored = kv_cache.stored(module, name, jnp.transpose(x, (0, 2, 3, 1)),
                             axes=kv_cache.KV_AXES_LENGTH_MINOR)
  return jnp.transpose(stored, (0, 3, 1, 2))


def _attend_shared(attn: attention.MultiHeadAttention, query: jax.Array, key: jax.Array,
                   value: jax.Array, mask: jax.Array, deterministic: bool) -> jax.Array:
  """Attention of queries `[G * B, T, N, D]` over keys / values `[B, S, N, D]` and mask.

  Each G consecutive query rows share one row of keys / values (the samples of an item share
  its encoder output): they attend as the G * T queries of that row, which reads each key once
  instead of G times. G = 1 is plain attention.
  """
  rows, items = query.shape[0], key.shape[0]
  if rows == items:
    return attn.attend(query, key, value, mask=mask, deterministic=deterministic)
  if rows % items:
    raise ValueError(f'{rows} query rows do not share {items} rows of keys / values evenly')
  grouped = query.reshape((items, -1) + query.shape[2:])
  out = attn.attend(grouped, key, value, mask=mask, deterministic=deterministic)
  return out.reshape(query.shape)


class DecoderLayer(nn.Module):
  """Causal self-attention, cross-attention (no position bias) and MLP, each pre-normed."""
  config: T5Config

  @nn.compact
  def __call__(self, x, encoded, self_mask, bias, cross_mask, deterministic: bool, mode: str,
               index, cache_length: int | None, heads_major_cache: bool = False) -> jax.Array:
    cfg = self.config
    h = _norm(cfg, 'self_attention_norm')(x)
    attn = _attention(cfg, 'self_attention')
    key, value = attn.project_key_value(h)
    if mode != common_types.MODE_TRAIN:
      key = _append_kv(self, 'self_key', key, index, cache_length, heads_major_cache)
      value = _append_kv(self, 'self_value', value, index, cache_length, heads_major_cache)
    h = attn.attend(attn.project_query(h), key, value, mask=self_mask, bias=bias,
                    deterministic=deterministic)
    x = _residual(cfg, x, attn.project_out(h), deterministic)

    h = _norm(cfg, 'cross_attention_norm')(x)
    cross = _attention(cfg, 'cross_attention')
    # Encoder keys / values: computed in train mode; computed and stored at prefill; read back
    # from the cache at each decode step.
    key = value = None
    if mode != common_types.MODE_DECODE:
      key, value = cross.project_key_value(encoded)
    if mode != common_types.MODE_TRAIN:
      key = _stored_kv(self, 'cross_key', key, heads_major_cache)
      value = _stored_kv(self, 'cross_value', value, heads_major_cache)
    h = _attend_shared(cross, cross.project_query(h), key, value, cross_mask, deterministic)
    x = _residual(cfg, x, cross.project_out(h), deterministic)
    return _residual(cfg, x, MLP(cfg, name='mlp')(_norm(cfg, 'mlp_norm')(x), deterministic),
                     deterministic)


def _layer_class(cfg: T5Config, layer: type[nn.Module], static_argnums: tuple[int, ...],
                 mode: str) -> type[nn.Module]:
  if cfg.remat and mode == common_types.MODE_TRAIN:
    return nn.remat(layer, static_argnums=static_argnums)
  return layer


class Encoder(nn.Module):
  """Embedded inputs `[B, S, D]` -> final-normed hidden states."""
  config: T5Config

  @nn.compact
  def __call__(self, x, attention_mask, deterministic: bool) -> jax.Array:
    cfg = self.config
    x = nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)
    positions = jnp.arange(x.shape[1])[None]
    bias = _position_bias(cfg, bidirectional=True)(positions, positions)
    mask = attention.padding_mask(attention_mask)
    # static_argnums counts `self`: 4 is `deterministic`.
    layer = _layer_class(cfg, EncoderLayer, (4,), common_types.MODE_TRAIN)
    for i in range(cfg.num_layers):
      x = layer(cfg, name=f'layer_{i}')(x, mask, bias, deterministic)
    x = _norm(cfg, 'final_norm')(x)
    return nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)


class Decoder(nn.Module):
  """Embedded decoder inputs `[B, T, D]` attending to the encoder -> final-normed states."""
  config: T5Config

  @nn.compact
  def __call__(self, x, encoded, encoder_mask, deterministic: bool, mode: str, positions,
               cache_length: int | None, heads_major_cache: bool = False) -> jax.Array:
    cfg = self.config
    batch, length = x.shape[:2]
    index = None
    if mode == common_types.MODE_TRAIN:
      positions = jnp.arange(length)[None] if positions is None else positions
      key_positions = positions
    else:
      if (mode == common_types.MODE_PREFILL) == (cache_length is None):
        raise ValueError(f'cache_length is required in prefill mode and only there (mode={mode})')
      counter = self.variable(kv_cache.COLLECTION, 'index', lambda: jnp.zeros((), jnp.int32))
      index = counter.value if mode == common_types.MODE_DECODE else jnp.zeros((), jnp.int32)
      positions = index + jnp.arange(length)[None] if positions is None else positions
      key_positions = kv_cache.append(
          self, 'positions', jnp.broadcast_to(positions, (batch, length)).astype(jnp.int32),
          index, length=cache_length, fill=EMPTY_POSITION, axes=kv_cache.TOKEN_AXES)
      counter.value = index + length
      encoder_mask = kv_cache.stored(
          self, 'encoder_mask', None if mode == common_types.MODE_DECODE else encoder_mask,
          axes=kv_cache.TOKEN_AXES)
    bias = _position_bias(cfg, bidirectional=False)(positions, key_positions)
    self_mask = (key_positions[:, None, :] <= positions[:, :, None])[:, None]
    cross_mask = attention.padding_mask(encoder_mask)
    x = nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)
    # static_argnums counts `self`: 6 is `deterministic`, 7 `mode`, 9 `cache_length`, 10
    # `heads_major_cache`.
    layer = _layer_class(cfg, DecoderLayer, (6, 7, 9, 10), mode)
    for i in range(cfg.num_decoder_layers):
      x = layer(cfg, name=f'layer_{i}')(x, encoded, self_mask, bias, cross_mask, deterministic,
                                        mode, index, cache_length, heads_major_cache)
    x = _norm(cfg, 'final_norm')(x)
    return nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)


class T5(nn.Module):
  """The encoder-decoder with its LM head.

  Params: `shared/embedding`, `{encoder,decoder}/relative_position_bias/embedding`,
  `encoder/layer_{i}/{self_attention,self_attention_norm,mlp,mlp_norm}`,
  `decoder/layer_{i}/{self_attention,cross_attention,mlp}{,_norm}`, `{encoder,decoder}/
  final_norm`, and `lm_head` unless `config.tie_word_embeddings`.
  """
  config: T5Config

  def setup(self):
    cfg = self.config
    self.shared = embeddings.Embed(cfg.vocab_size, cfg.d_model, dtype=cfg.compute_dtype,
                                   embedding_init=_normal(1.0))
    self.encoder = Encoder(cfg)
    self.decoder = Decoder(cfg)
    if not cfg.tie_word_embeddings:
      self.lm_head = linears.Dense(cfg.vocab_size, (common_types.EMBED, common_types.VOCAB),
                                   use_bias=False, dtype=cfg.compute_dtype,
                                   kernel_init=_normal(1.0))

  def encode(self, input_ids: jax.Array, attention_mask: jax.Array, *,
             deterministic: bool = True) -> jax.Array:
    """`[B, S]` ids and mask (nonzero = real token) -> hidden states `[B, S, D]`."""
    x = nn.with_logical_constraint(self.shared(input_ids), _HIDDEN_AXES)
    return self.encoder(x, attention_mask, deterministic)

  def decode(self, decoder_input_ids: jax.Array, encoded: jax.Array | None,
             encoder_mask: jax.Array | None, *, deterministic: bool = True,
             mode: str = common_types.MODE_TRAIN, decoder_positions: jax.Array | None = None,
             cache_length: int | None = None, heads_major_cache: bool = False) -> jax.Array:
    """Next-token logits `[B, T, V]` (fp32) for decoder inputs `[B, T]`.

    Args:
      decoder_input_ids: `[B, T]` ids, starting with `decoder_start_token_id`.
      encoded: `encode`'s output `[B, S, D]`; unused (may be None) in decode mode.
      encoder_mask: `[B, S]` encoder attention mask; unused (may be None) in decode mode.
      deterministic: False applies dropout, drawing the 'dropout' rng.
      mode: MODE_TRAIN (causal over the inputs), MODE_PREFILL (also writes a fresh 'cache';
        apply with `mutable=['cache']`) or MODE_DECODE (appends to and attends over it).
      decoder_positions: `[B, T]` or `[1, T]` positions of the inputs for the relative bias
        and the causal mask; None means consecutive from 0 (from the cache index in decode).
      cache_length: prefill only: the cache's slots (prefix plus tokens to generate).
      heads_major_cache: cache self-attention keys / values as `[B, heads, length, kv]` and
        cross-attention ones as `[B, heads, kv, length]` (faster decode steps on CPU: the
        attention dots read them in place) instead of `[B, length, heads, kv]`; prefill and
        decode must agree. Same results.
    """
    x = nn.with_logical_constraint(self.shared(decoder_input_ids), _HIDDEN_AXES)
    x = self.decoder(x, encoded, encoder_mask, deterministic, mode, decoder_positions,
                     cache_length, heads_major_cache)
    if self.config.tie_word_embeddings:
      logits = self.shared.attend(x * self.config.d_model ** -0.5)
    else:
      logits = self.lm_head(x)
    return nn.with_logical_constraint(
        logits.astype(jnp.float32), (common_types.BATCH, common_types.LENGTH, common_types.VOCAB))

  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array,
               decoder_input_ids: jax.Array, *, deterministic: bool = True) -> jax.Array:
    """Teacher-forced logits `[B, T, V]`."""
    encoded = self.encode(input_ids, attention_mask, deterministic=deterministic)
    return self.decode(decoder_input_ids, encoded, attention_mask, deterministic=deterministic)
