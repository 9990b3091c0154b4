"""HF checkpoint import / export for `t5.T5` (mT5, T5 v1.1, original T5 and our trained models).

Files are found and read by `io.hf_files`: `config.json`
plus `model.safetensors`, a sharded index or `pytorch_model.bin` (torch's `weights_only`
loader). `_param_table` maps every Flax parameter to its HF tensor, in both directions. HF
stores the relative position bias in block 0 only and may repeat the shared embedding as
`{encoder,decoder}.embed_tokens.weight` and, when tied, as `lm_head.weight`; such copies must
equal `shared.weight`. An mT5 checkpoint without `lm_head.weight` has its head tied to the
shared embedding (transformers 5 ties a new mT5's head, unscaled, and saves no copy of it):
the head is loaded as that embedding. Any other unmapped, missing or misshapen tensor is an
error naming it.
"""

import os
from typing import Any

from absl import logging
import numpy as np

from xqg_jax.io import hf_files
from xqg_jax.models import t5

_Linear = hf_files.Linear
_SAME = hf_files.SAME

SHARED = 'shared.weight'
LM_HEAD = 'lm_head.weight'
# Copies of `shared.weight` that some checkpoints hold.
EMBEDDING_ALIASES = ('encoder.embed_tokens.weight', 'decoder.embed_tokens.weight')
# HF ignores this tensor of old checkpoints too (`_keys_to_ignore_on_load_unexpected`).
IGNORED = ('decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight',)

Params = dict[str, Any]

_ATTENTION_TABLE = (
    ('query/kernel', 'q.weight', _Linear(1)), ('key/kernel', 'k.weight', _Linear(1)),
    ('value/kernel', 'v.weight', _Linear(1)), ('out/kernel', 'o.weight', _Linear(2)))
# (stack, [(Flax sublayer, HF layer index, HF attention module or None for the MLP)]).
_STACKS = (
    ('encoder', (('self_attention', 0, 'SelfAttention'), ('mlp', 1, None))),
    ('decoder', (('self_attention', 0, 'SelfAttention'), ('cross_attention', 1, 'EncDecAttention'),
                 ('mlp', 2, None))),
)


def _param_table(config: t5.T5Config) -> list[tuple[str, str, Any]]:
  """Every parameter of `T5(config)`: (Flax path, HF name, transform)."""
  mlp = ('wi_0', 'wi_1', 'wo') if config.is_gated_act else ('wi', 'wo')
  table = [('shared/embedding', SHARED, _SAME)]
  for stack, sublayers in _STACKS:
    table += [(f'{stack}/relative_position_bias/embedding',
               f'{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight', _SAME),
              (f'{stack}/final_norm/scale', f'{stack}.final_layer_norm.weight', _SAME)]
    num_layers = config.num_layers if stack == 'encoder' else config.num_decoder_layers
    for i in range(num_layers):
      for sublayer, j, module in sublayers:
        path, name = f'{stack}/layer_{i}/{sublayer}', f'{stack}.block.{i}.layer.{j}'
        table.append((f'{path}_norm/scale', f'{name}.layer_norm.weight', _SAME))
        if module:
          table += [(f'{path}/{p}', f'{name}.{module}.{w}', tf) for p, w, tf in _ATTENTION_TABLE]
        else:
          table += [(f'{path}/{w}/kernel', f'{name}.DenseReluDense.{w}.weight', _Linear(1))
                    for w in mlp]
  if not config.tie_word_embeddings:
    table.append(('lm_head/kernel', LM_HEAD, _Linear(1)))
  return table


def _merge_copies(tensors: dict[str, np.ndarray], config: t5.T5Config) -> list[str]:
  """Drops the copies of `shared.weight` (checking they are copies); returns what it dropped."""
  copies = [name for name in EMBEDDING_ALIASES if name in tensors]
  if config.tie_word_embeddings and LM_HEAD in tensors:
    copies.append(LM_HEAD)
  if copies and SHARED not in tensors:
    tensors[SHARED] = tensors[copies[0]]
  for name in copies:
    if not np.array_equal(tensors[name], tensors[SHARED]):
      tie = ' but the config ties them (tie_word_embeddings / scale_decoder_outputs)'
      raise ValueError(f'tensor {name} differs from {SHARED}' + (tie if name == LM_HEAD else ''))
    del tensors[name]
  ignored = [name for name in IGNORED if tensors.pop(name, None) is not None]
  if config.model_type == 'mt5' and LM_HEAD not in tensors and SHARED in tensors:
    tensors[LM_HEAD] = tensors[SHARED]  # a tied mT5 head (module docstring)
    logging.info('%s is absent: the mT5 head is tied to %s', LM_HEAD, SHARED)
  return copies + ignored


def load_hf_t5(path_or_hub_id: str | os.PathLike, **overrides) -> tuple[t5.T5Config, Params]:
  """Loads an HF T5 / mT5 checkpoint as `(config, params)`.

  Args:
    path_or_hub_id: a checkpoint directory (anything existing or starting with '/', '.', '~'
      or holding '://'), or a hub id, resolved through the local HF cache when offline.
    **overrides: `T5Config` fields, e.g. `dtype='bfloat16'`.

  Returns:
    The config and the 'params' collection of `t5.T5(config)`, fp32 numpy arrays.
  """
  directory = hf_files.resolve(path_or_hub_id)
  config = t5.T5Config.from_hf_dict(hf_files.read_config(directory), **overrides)
  tensors = dict(hf_files.read_weights(directory))
  skipped = _merge_copies(tensors, config)
  if skipped:
    logging.info('%s: skipped copies and unused tensors: %s', directory, ', '.join(skipped))
  ids = np.zeros((1, 1), np.int32)
  shapes = hf_files.param_shapes(t5.T5(config).init, ids, ids, ids)
  return config, hf_files.to_params(tensors, _param_table(config), shapes, directory, config)


def save_hf_t5(config: t5.T5Config, params: Params, out_dir: str | os.PathLike) -> None:
  """Writes `config.json` and `model.safetensors` that HF `(M)T5ForConditionalGeneration` loads.

  `params` is the 'params' collection (boxed or not, on any devices). The shared embedding is
  written once as `shared.weight` (HF ties the `embed_tokens` copies to it). `out_dir` is
  replaced atomically.
  """
  hf_files.write(out_dir, config.to_hf_dict(),
                 hf_files.to_tensors(params, _param_table(config), config))
