"""HF checkpoint import / export for `bert.Encoder` (mBERT, XLM-R and our trained encoders).

Files are found and read by `io.hf_files`. `_param_table` maps every Flax parameter to its HF
tensor, in both directions. Task-head tensors (`cls.*`, `lm_head.*`) and position /
token-type id buffers are skipped and logged; any other unmapped, missing or misshapen tensor
is an error naming it.
"""

import dataclasses
import os
from typing import Any, Mapping

from absl import logging
import numpy as np

from xqg_jax.io import hf_files
from xqg_jax.models import bert

# Tensors of HF checkpoints that are not encoder weights: pretraining / MLM heads and buffers.
IGNORED_PREFIXES = ('cls.', 'lm_head.')
IGNORED_BUFFERS = ('embeddings.position_ids', 'embeddings.token_type_ids')
_POOLER_PREFIX = 'pooler.'
_IDS = np.zeros((1, 1), np.int32)

Params = hf_files.Params

# (Flax path, HF name, transform); '{i}' is the layer index.
_EMBEDDING_TABLE = (
    ('embeddings/word_embeddings/embedding', 'embeddings.word_embeddings.weight', hf_files.SAME),
    ('embeddings/position_embeddings/embedding', 'embeddings.position_embeddings.weight', hf_files.SAME),
    ('embeddings/token_type_embeddings/embedding', 'embeddings.token_type_embeddings.weight',
     hf_files.SAME),
    ('embeddings/layer_norm/scale', 'embeddings.LayerNorm.weight', hf_files.SAME),
    ('embeddings/layer_norm/bias', 'embeddings.LayerNorm.bias', hf_files.SAME),
)
_LAYER_TABLE = (
    ('attention/query/kernel', 'attention.self.query.weight', hf_files.Linear(1)),
    ('attention/query/bias', 'attention.self.query.bias', hf_files.Reshape(flatten=True)),
    ('attention/key/kernel', 'attention.self.key.weight', hf_files.Linear(1)),
    ('attention/key/bias', 'attention.self.key.bias', hf_files.Reshape(flatten=True)),
    ('attention/value/kernel', 'attention.self.value.weight', hf_files.Linear(1)),
    ('attention/value/bias', 'attention.self.value.bias', hf_files.Reshape(flatten=True)),
    ('attention/out/kernel', 'attention.output.dense.weight', hf_files.Linear(2)),
    ('attention/out/bias', 'attention.output.dense.bias', hf_files.SAME),
    ('attention_layer_norm/scale', 'attention.output.LayerNorm.weight', hf_files.SAME),
    ('attention_layer_norm/bias', 'attention.output.LayerNorm.bias', hf_files.SAME),
    ('intermediate/kernel', 'intermediate.dense.weight', hf_files.Linear(1)),
    ('intermediate/bias', 'intermediate.dense.bias', hf_files.SAME),
    ('output/kernel', 'output.dense.weight', hf_files.Linear(1)),
    ('output/bias', 'output.dense.bias', hf_files.SAME),
    ('output_layer_norm/scale', 'output.LayerNorm.weight', hf_files.SAME),
    ('output_layer_norm/bias', 'output.LayerNorm.bias', hf_files.SAME),
)
_POOLER_TABLE = (
    ('pooler/kernel', _POOLER_PREFIX + 'dense.weight', hf_files.Linear(1)),
    ('pooler/bias', _POOLER_PREFIX + 'dense.bias', hf_files.SAME),
)


def _param_table(config: bert.EncoderConfig) -> list[tuple[str, str, Any]]:
  """Every parameter of `Encoder(config)`: (Flax path, bare HF name, transform)."""
  table = list(_EMBEDDING_TABLE)
  for i in range(config.num_hidden_layers):
    table += [(f'layer_{i}/{path}', f'encoder.layer.{i}.{name}', transform)
              for path, name, transform in _LAYER_TABLE]
  return table + list(_POOLER_TABLE if config.add_pooler else ())


def _strip_prefix(tensors: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
  """Drops the base-model prefix ('bert.' / 'roberta.') of task checkpoints, if present."""
  result = {}
  for name, value in tensors.items():
    bare = name.removeprefix(prefix)
    if bare in result:
      raise ValueError(f'tensor {bare} is stored both with and without the prefix {prefix!r}')
    result[bare] = value
  return result


def load_hf_encoder(path_or_hub_id: str | os.PathLike, *, add_pooler: bool | None = None,
                    **overrides) -> tuple[bert.EncoderConfig, Params]:
  """Loads an HF BERT / XLM-R checkpoint as `(config, params)`.

  Args:
    path_or_hub_id: a checkpoint directory (anything existing or starting with '/', '.', '~'
      or holding '://'), or a hub id, resolved through the local HF cache when offline.
    add_pooler: whether to load the pooler; None loads it iff the checkpoint has one. With
      False a checkpoint's pooler is skipped (and logged).
    **overrides: other `EncoderConfig` fields, e.g. `dtype='bfloat16'`.

  Returns:
    The config and the 'params' collection of `bert.Encoder(config)`, fp32 numpy arrays:
    `model.apply({'params': params}, ...)`.
  """
  directory = hf_files.resolve(path_or_hub_id)
  hf_config = hf_files.read_config(directory)
  config = bert.EncoderConfig.from_hf_dict(hf_config, **overrides)
  tensors = _strip_prefix(hf_files.read_weights(directory), bert.HF_PREFIXES[config.model_type])
  if add_pooler is None:
    add_pooler = any(name.startswith(_POOLER_PREFIX) for name in tensors)
  config = dataclasses.replace(config, add_pooler=add_pooler)

  skipped = sorted(name for name in tensors if name.startswith(IGNORED_PREFIXES)
                   or name in IGNORED_BUFFERS
                   or (not add_pooler and name.startswith(_POOLER_PREFIX)))
  if skipped:
    logging.info('%s: skipped %d tensors that are not encoder weights: %s', directory,
                 len(skipped), ', '.join(skipped))
  kept = {name: value for name, value in tensors.items() if name not in set(skipped)}
  shapes = hf_files.param_shapes(bert.Encoder(config).init, _IDS, _IDS)
  return config, hf_files.to_params(kept, _param_table(config), shapes, directory, config)


def save_hf_encoder(config: bert.EncoderConfig, params: Params,
                    out_dir: str | os.PathLike) -> None:
  """Writes `config.json` and `model.safetensors` that HF `BertModel` / `XLMRobertaModel` load.

  `params` is the 'params' collection (boxed or not, on any devices). `out_dir` is replaced
  atomically: it is either the old directory or the complete new one. Without a pooler, load
  with `from_pretrained(out_dir, add_pooling_layer=False)`.
  """
  hf_files.write(out_dir, config.to_hf_dict(),
                 hf_files.to_tensors(params, _param_table(config), config))
