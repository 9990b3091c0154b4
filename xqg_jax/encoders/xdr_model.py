"""Building the xDR bi-encoder from config: a preset architecture or an HF checkpoint.

Resume order (big_vision/MaxText): the workdir's latest checkpoint, else `xdr.init_from` (an
HF BERT/XLM-R checkpoint), else scratch with `xdr.preset` sized to the tokenizer.
"""

import ml_collections
import numpy as np

from xqg_jax.data import tokenizers
from xqg_jax.models import bert
from xqg_jax.models import bi_encoder
from xqg_jax.models import hf_bert


def encoder_config(config: ml_collections.ConfigDict, tokenizer) -> tuple[
    bert.EncoderConfig, dict | None]:
  """(architecture, HF params or None) for `config.xdr` and the tokenizer it will read."""
  xdr = config.xdr
  overrides = {'dtype': xdr.dtype, 'hidden_dropout_prob': xdr.dropout,
               'attention_probs_dropout_prob': xdr.dropout}
  if xdr.init_from:
    # CLS/mean pooling reads hidden states; DPR-style retrievers do not use the pooler.
    cfg, params = hf_bert.load_hf_encoder(xdr.init_from, add_pooler=False, **overrides)
  else:
    if xdr.preset not in bert.PRESETS:
      raise ValueError(f'xdr.preset {xdr.preset!r} unknown; presets: {sorted(bert.PRESETS)}')
    fields = {**bert.PRESETS[xdr.preset], **overrides, 'vocab_size': len(tokenizer),
              'pad_token_id': tokenizer.pad_token_id}
    # Scratch models need positions for the longest configured input.
    fields['max_position_embeddings'] = max(fields.get('max_position_embeddings', 0),
                                            config.data.p_max_len, config.data.q_max_len)
    cfg, params = bert.EncoderConfig(**fields), None
  tokenizers.check_vocab(tokenizer, cfg.vocab_size, f'xDR encoder ({xdr.init_from or xdr.preset})')
  return cfg, params


def bi_encoder_model(config: ml_collections.ConfigDict,
                     cfg: bert.EncoderConfig) -> bi_encoder.BiEncoder:
  xdr = config.xdr
  return bi_encoder.BiEncoder(cfg, pooling=xdr.pooling, normalize=xdr.normalize, tied=xdr.tied,
                              temperature=xdr.temperature,
                              learn_temperature=xdr.learn_temperature)


def dummy_batch(rows: int, length: int) -> dict:
  """Shape-only inputs for `init`."""
  ids = np.zeros((rows, length), np.int32)
  return {'input_ids': ids, 'attention_mask': np.ones_like(ids), 'token_type_ids': ids}


def towers(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The parameter subtrees holding an encoder."""
  return ('encoder',) if config.xdr.tied else ('query', 'passage')
