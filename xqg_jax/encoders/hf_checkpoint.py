"""HF checkpoint import / export for `bert.Encoder` (mBERT, XLM-R and our trained encoders).

A checkpoint is a directory (local or `gs://`) or a hub id holding `config.json` and weights:
`model.safetensors`, a sharded `model.safetensors.index.json`, or `pytorch_model.bin` (read with
torch's `weights_only=True` loader, when torch is installed). `_PARAM_TABLE` maps every Flax
parameter to its HF tensor, in both directions. Task-head tensors (`cls.*`, `lm_head.*`) and
position / token-type id buffers are skipped and logged; any other unmapped, missing or
misshapen tensor is an error naming it.
"""

import dataclasses
import io
import json
import math
import os
import pickle
import zipfile
from typing import Any, Mapping

from absl import logging
from etils import epath
import flax.linen as nn
from flax import traverse_util
import huggingface_hub
from huggingface_hub import errors as hf_errors
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import safetensors
import safetensors.numpy

from xqg_jax.encoders import bert
from xqg_jax.io import atomic

CONFIG_FILE = 'config.json'
SAFETENSORS_FILE = 'model.safetensors'
# Weight files in the order they are looked for.
WEIGHT_FILES = (SAFETENSORS_FILE, 'model.safetensors.index.json', 'pytorch_model.bin',
                'pytorch_model.bin.index.json')
# Tensors of HF checkpoints that are not encoder weights: pretraining / MLM heads and buffers.
IGNORED_PREFIXES = ('cls.', 'lm_head.')
IGNORED_BUFFERS = ('embeddings.position_ids', 'embeddings.token_type_ids')
_POOLER_PREFIX = 'pooler.'
_SAFETENSORS_DTYPES = {'F64': np.float64, 'F32': np.float32, 'F16': np.float16,
                       'BF16': ml_dtypes.bfloat16, 'I64': np.int64, 'I32': np.int32}

Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _Linear:
  """HF `nn.Linear.weight [out, in]` <-> Dense kernel `[*in_dims, *out_dims]`."""
  num_in: int = 1

  def hf_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
    return (math.prod(shape[self.num_in:]), math.prod(shape[:self.num_in]))

  def to_hf(self, x: np.ndarray) -> np.ndarray:
    return x.reshape(self.hf_shape(x.shape)[::-1]).T

  def to_flax(self, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return w.T.reshape(shape)


@dataclasses.dataclass(frozen=True)
class _Reshape:
  """Same values; HF flattens them when `flatten` (per-head biases `[N, D]` -> `[N * D]`)."""
  flatten: bool = False

  def hf_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
    return (math.prod(shape),) if self.flatten else shape

  def to_hf(self, x: np.ndarray) -> np.ndarray:
    return x.reshape(self.hf_shape(x.shape))

  def to_flax(self, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return w.reshape(shape)


_SAME = _Reshape()
# (Flax path, HF name, transform); '{i}' is the layer index.
_EMBEDDING_TABLE = (
    ('embeddings/word_embeddings/embedding', 'embeddings.word_embeddings.weight', _SAME),
    ('embeddings/position_embeddings/embedding', 'embeddings.position_embeddings.weight', _SAME),
    ('embeddings/token_type_embeddings/embedding', 'embeddings.token_type_embeddings.weight',
     _SAME),
    ('embeddings/layer_norm/scale', 'embeddings.LayerNorm.weight', _SAME),
    ('embeddings/layer_norm/bias', 'embeddings.LayerNorm.bias', _SAME),
)
_LAYER_TABLE = (
    ('attention/query/kernel', 'attention.self.query.weight', _Linear(1)),
    ('attention/query/bias', 'attention.self.query.bias', _Reshape(flatten=True)),
    ('attention/key/kernel', 'attention.self.key.weight', _Linear(1)),
    ('attention/key/bias', 'attention.self.key.bias', _Reshape(flatten=True)),
    ('attention/value/kernel', 'attention.self.value.weight', _Linear(1)),
    ('attention/value/bias', 'attention.self.value.bias', _Reshape(flatten=True)),
    ('attention/out/kernel', 'attention.output.dense.weight', _Linear(2)),
    ('attention/out/bias', 'attention.output.dense.bias', _SAME),
    ('attention_layer_norm/scale', 'attention.output.LayerNorm.weight', _SAME),
    ('attention_layer_norm/bias', 'attention.output.LayerNorm.bias', _SAME),
    ('intermediate/kernel', 'intermediate.dense.weight', _Linear(1)),
    ('intermediate/bias', 'intermediate.dense.bias', _SAME),
    ('output/kernel', 'output.dense.weight', _Linear(1)),
    ('output/bias', 'output.dense.bias', _SAME),
    ('output_layer_norm/scale', 'output.LayerNorm.weight', _SAME),
    ('output_layer_norm/bias', 'output.LayerNorm.bias', _SAME),
)
_POOLER_TABLE = (
    ('pooler/kernel', _POOLER_PREFIX + 'dense.weight', _Linear(1)),
    ('pooler/bias', _POOLER_PREFIX + 'dense.bias', _SAME),
)


def _param_table(config: bert.EncoderConfig) -> list[tuple[str, str, Any]]:
  """Every parameter of `Encoder(config)`: (Flax path, bare HF name, transform)."""
  table = list(_EMBEDDING_TABLE)
  for i in range(config.num_hidden_layers):
    table += [(f'layer_{i}/{path}', f'encoder.layer.{i}.{name}', transform)
              for path, name, transform in _LAYER_TABLE]
  return table + list(_POOLER_TABLE if config.add_pooler else ())


def _param_shapes(config: bert.EncoderConfig) -> dict[str, tuple[int, ...]]:
  ids = jnp.zeros((1, 1), jnp.int32)
  variables = jax.eval_shape(bert.Encoder(config).init, jax.random.key(0), ids, ids)
  flat = traverse_util.flatten_dict(nn.unbox(variables)['params'], sep='/')
  return {path: tuple(leaf.shape) for path, leaf in flat.items()}


def _resolve(path_or_hub_id: str | os.PathLike) -> epath.Path:
  """A local (or `gs://`) checkpoint directory, or the hub snapshot of a hub id."""
  name = os.path.expanduser(os.fspath(path_or_hub_id))
  if '://' in name or name.startswith(('/', '.')) or os.path.exists(name):
    path = epath.Path(name)
    if not path.is_dir():
      raise FileNotFoundError(f'checkpoint directory {name} does not exist')
    return path
  try:
    snapshot = epath.Path(huggingface_hub.snapshot_download(
        name, allow_patterns=[CONFIG_FILE, 'model.safetensors*']))
    if not any((snapshot / f).exists() for f in WEIGHT_FILES):
      snapshot = epath.Path(huggingface_hub.snapshot_download(
          name, allow_patterns=[CONFIG_FILE, 'pytorch_model.bin*']))
  except (hf_errors.EntryNotFoundError, hf_errors.HfHubHTTPError,
          hf_errors.HFValidationError) as e:
    raise FileNotFoundError(
        f'{name!r} is not a local directory and could not be fetched from the Hugging Face hub '
        f'(offline: HF_HUB_OFFLINE={os.environ.get("HF_HUB_OFFLINE", "")!r}): {e}') from e
  return snapshot


def _read_config(directory: epath.Path) -> dict[str, Any]:
  path = directory / CONFIG_FILE
  if not path.exists():
    raise FileNotFoundError(f'{path} does not exist')
  try:
    config = json.loads(path.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f'{path} is not valid JSON: {e}') from e
  if not isinstance(config, dict):
    raise ValueError(f'{path} does not hold a JSON object')
  return config


def _read_safetensors(path: epath.Path) -> dict[str, np.ndarray]:
  try:
    tensors = safetensors.deserialize(path.read_bytes())
  except safetensors.SafetensorError as e:
    raise ValueError(f'{path} is not a valid safetensors file: {e}') from e
  result = {}
  for name, info in tensors:
    if info['dtype'] not in _SAFETENSORS_DTYPES:
      raise ValueError(f'{path}: tensor {name} has unsupported dtype {info["dtype"]}')
    result[name] = np.frombuffer(
        info['data'], _SAFETENSORS_DTYPES[info['dtype']]).reshape(info['shape'])
  return result


def _read_pytorch(path: epath.Path) -> dict[str, np.ndarray]:
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f'{path} is a PyTorch checkpoint; reading it needs torch '
                      f'(pip install torch), or convert it to {SAFETENSORS_FILE}') from e
  try:
    state = torch.load(io.BytesIO(path.read_bytes()), map_location='cpu', weights_only=True)
  except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
    raise ValueError(f'{path} is not a readable PyTorch checkpoint: {e}') from e
  return {name: (t.float() if t.is_floating_point() else t).numpy()
          for name, t in state.items()}


def _read_file(path: epath.Path) -> dict[str, np.ndarray]:
  if not path.exists():
    raise FileNotFoundError(f'{path} does not exist')
  return _read_safetensors(path) if path.name.endswith('.safetensors') else _read_pytorch(path)


def _read_weights(directory: epath.Path) -> dict[str, np.ndarray]:
  """All tensors of the first weight file (or sharded index) in `WEIGHT_FILES` order."""
  found = [directory / f for f in WEIGHT_FILES if (directory / f).exists()]
  if not found:
    raise FileNotFoundError(f'{directory} holds none of the weight files {WEIGHT_FILES}')
  path = found[0]
  if not path.name.endswith('.index.json'):
    return _read_file(path)
  try:
    shards = sorted(set(json.loads(path.read_text())['weight_map'].values()))
  except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as e:
    raise ValueError(f'{path} is not a valid index (JSON with a "weight_map"): {e!r}') from e
  tensors = {}
  for shard in shards:
    for name, value in _read_file(directory / shard).items():
      if name in tensors:
        raise ValueError(f'{path}: tensor {name} is stored in more than one shard')
      tensors[name] = value
  return tensors


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
  directory = _resolve(path_or_hub_id)
  hf_config = _read_config(directory)
  config = bert.EncoderConfig.from_hf_dict(hf_config, **overrides)
  tensors = _strip_prefix(_read_weights(directory), bert.HF_PREFIXES[config.model_type])
  if add_pooler is None:
    add_pooler = any(name.startswith(_POOLER_PREFIX) for name in tensors)
  config = dataclasses.replace(config, add_pooler=add_pooler)

  skipped = sorted(name for name in tensors if name.startswith(IGNORED_PREFIXES)
                   or name in IGNORED_BUFFERS
                   or (not add_pooler and name.startswith(_POOLER_PREFIX)))
  if skipped:
    logging.info('%s: skipped %d tensors that are not encoder weights: %s', directory,
                 len(skipped), ', '.join(skipped))
  shapes = _param_shapes(config)
  table = _param_table(config)
  used = set(skipped) | {name for _, name, _ in table}
  problems = [f'unexpected tensor {name}' for name in sorted(set(tensors) - used)]
  flat = {}
  for path, name, transform in table:
    expected = transform.hf_shape(shapes[path])
    if name not in tensors:
      problems.append(f'missing tensor {name} {expected}')
    elif tensors[name].shape != expected:
      problems.append(f'tensor {name} has shape {tensors[name].shape}, expected {expected}')
    else:
      flat[path] = np.ascontiguousarray(
          transform.to_flax(tensors[name], shapes[path]), dtype=np.float32)
  if problems:
    raise ValueError(f'{directory} does not match {config}:\n  ' + '\n  '.join(problems))
  return config, traverse_util.unflatten_dict(flat, sep='/')


def save_hf_encoder(config: bert.EncoderConfig, params: Params,
                    out_dir: str | os.PathLike) -> None:
  """Writes `config.json` and `model.safetensors` that HF `BertModel` / `XLMRobertaModel` load.

  `params` is the 'params' collection (boxed or not, on any devices). `out_dir` is replaced
  atomically: it is either the old directory or the complete new one. Without a pooler, load
  with `from_pretrained(out_dir, add_pooling_layer=False)`.
  """
  flat = traverse_util.flatten_dict(nn.unbox(params), sep='/')
  table = _param_table(config)
  expected = {path for path, _, _ in table}
  if set(flat) != expected:
    raise ValueError(f'params do not match {config}: missing {sorted(expected - set(flat))}, '
                     f'unexpected {sorted(set(flat) - expected)}')
  tensors = {name: np.ascontiguousarray(transform.to_hf(np.asarray(flat[path], np.float32)))
             for path, name, transform in table}
  data = safetensors.numpy.save(tensors, metadata={'format': 'pt'})
  _write_directory(epath.Path(out_dir), {
      CONFIG_FILE: json.dumps(config.to_hf_dict(), indent=2, sort_keys=True).encode(),
      SAFETENSORS_FILE: data})


def _write_directory(out: epath.Path, files: Mapping[str, bytes]) -> None:
  """Writes `files` into `out`, replacing it atomically."""
  with atomic.atomic_directory(out) as tmp:
    for name, data in files.items():
      (tmp / name).write_bytes(data)
