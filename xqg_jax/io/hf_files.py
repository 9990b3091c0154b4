"""Hugging Face checkpoint files: find, read and write `config.json` + weights.

Shared by the encoder (BERT / XLM-R) and generator (T5 / mT5) checkpoints. A checkpoint is a
directory (local or `gs://`) or a hub id holding `config.json` and weights: `model.safetensors`,
a sharded `model.safetensors.index.json`, or `pytorch_model.bin` (read with torch's
`weights_only=True` loader, when torch is installed; never a general unpickler). A model's
table of (Flax path, HF name, transform) rows maps every parameter in both directions.
"""

import dataclasses
import io
import json
import math
import os
import pickle  # only for the error type of torch's weights_only loader
import zipfile
from typing import Any, Callable, Mapping, Sequence

from etils import epath
import flax.linen as nn
from flax import traverse_util
import huggingface_hub
from huggingface_hub import errors as hf_errors
import jax
import ml_dtypes
import numpy as np
import safetensors
import safetensors.numpy

from xqg_jax.io import atomic

CONFIG_FILE = 'config.json'
SAFETENSORS_FILE = 'model.safetensors'
# Weight files in the order they are looked for.
WEIGHT_FILES = (SAFETENSORS_FILE, 'model.safetensors.index.json', 'pytorch_model.bin',
                'pytorch_model.bin.index.json')
_SAFETENSORS_DTYPES = {'F64': np.float64, 'F32': np.float32, 'F16': np.float16,
                       'BF16': ml_dtypes.bfloat16, 'I64': np.int64, 'I32': np.int32}

Params = dict[str, Any]
Table = Sequence[tuple[str, str, Any]]  # (Flax path, HF name, transform)


@dataclasses.dataclass(frozen=True)
class Linear:
  """HF `nn.Linear.weight [out, in]` <-> Dense kernel `[*in_dims, *out_dims]`."""
  num_in: int = 1

  def hf_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
    return (math.prod(shape[self.num_in:]), math.prod(shape[:self.num_in]))

  def to_hf(self, x: np.ndarray) -> np.ndarray:
    return x.reshape(self.hf_shape(x.shape)[::-1]).T

  def to_flax(self, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return w.T.reshape(shape)


@dataclasses.dataclass(frozen=True)
class Reshape:
  """Same values; HF flattens them when `flatten` (per-head biases `[N, D]` -> `[N * D]`)."""
  flatten: bool = False

  def hf_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
    return (math.prod(shape),) if self.flatten else shape

  def to_hf(self, x: np.ndarray) -> np.ndarray:
    return x.reshape(self.hf_shape(x.shape))

  def to_flax(self, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return w.reshape(shape)


SAME = Reshape()


def resolve(path_or_hub_id: str | os.PathLike) -> epath.Path:
  """A local (or `gs://`) checkpoint directory, or the hub snapshot of a hub id.

  A hub id is `name` or `owner/name`; anything with more parts, a scheme, or a leading
  `/`, `.` or `~` is a path, and a missing one is an error naming it (never a hub lookup).
  """
  name = os.path.expanduser(os.fspath(path_or_hub_id))
  if ('://' in name or name.startswith(('/', '.')) or name.count('/') > 1
      or os.path.exists(name)):
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


def read_config(directory: epath.Path) -> dict[str, Any]:
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


def read_weights(directory: epath.Path) -> dict[str, np.ndarray]:
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


def param_shapes(init: Callable[..., Any], *args) -> dict[str, tuple[int, ...]]:
  """Flax path -> shape of every parameter that `init(rng, *args)` creates (no compute)."""
  variables = jax.eval_shape(init, jax.random.key(0), *args)
  flat = traverse_util.flatten_dict(nn.unbox(variables)['params'], sep='/')
  return {path: tuple(leaf.shape) for path, leaf in flat.items()}


def to_params(tensors: Mapping[str, np.ndarray], table: Table,
              shapes: Mapping[str, tuple[int, ...]], where, config) -> Params:
  """The fp32 'params' collection from HF `tensors`; every tensor must be used exactly."""
  problems = [f'unexpected tensor {name}'
              for name in sorted(set(tensors) - {name for _, name, _ in table})]
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
    raise ValueError(f'{where} does not match {config}:\n  ' + '\n  '.join(problems))
  return traverse_util.unflatten_dict(flat, sep='/')


def to_tensors(params: Params, table: Table, config) -> dict[str, np.ndarray]:
  """HF tensors (fp32) from a 'params' collection (boxed or not, on any devices)."""
  flat = traverse_util.flatten_dict(nn.unbox(params), sep='/')
  expected = {path for path, _, _ in table}
  if set(flat) != expected:
    raise ValueError(f'params do not match {config}: missing {sorted(expected - set(flat))}, '
                     f'unexpected {sorted(set(flat) - expected)}')
  return {name: np.ascontiguousarray(transform.to_hf(np.asarray(flat[path], np.float32)))
          for path, name, transform in table}


def write(out_dir, hf_config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
  """`config.json` + `model.safetensors` in `out_dir`, replaced atomically."""
  with atomic.atomic_directory(out_dir) as tmp:
    (tmp / CONFIG_FILE).write_text(json.dumps(dict(hf_config), indent=2, sort_keys=True))
    (tmp / SAFETENSORS_FILE).write_bytes(
        safetensors.numpy.save(dict(tensors), metadata={'format': 'pt'}))
