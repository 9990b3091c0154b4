"""Stage manifests: what a stage was asked to do and proof of what it wrote.

`manifest.json` holds the stage name, the config it ran with, digests of its inputs and a sha256
per output shard. A re-run with the same config and inputs whose shards still hash to the
recorded digests is complete and is skipped; anything else is redone.
"""

import hashlib
import json
from typing import Any, Mapping

from etils import epath

from xqg_jax.io import atomic

MANIFEST_NAME = 'manifest.json'
_CHUNK = 1 << 20


def sha256_file(path) -> str:
  """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
  digest = hashlib.sha256()
  with epath.Path(path).open('rb') as f:
    while chunk := f.read(_CHUNK):
      digest.update(chunk)
  return digest.hexdigest()


def fingerprint(obj: Any) -> str:
  """sha256 of a JSON-serialisable object in canonical form (sorted keys)."""
  blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode('utf-8')
  return hashlib.sha256(blob).hexdigest()


def write(directory, *, stage: str, config: Mapping[str, Any], inputs: Mapping[str, str],
          outputs: list[str], extra: Mapping[str, Any] | None = None) -> dict:
  """Hashes `outputs` (paths relative to `directory`) and writes the manifest atomically."""
  directory = epath.Path(directory)
  manifest = {
      'stage': stage,
      'config': config,
      'config_digest': fingerprint(config),
      'inputs': dict(inputs),
      'outputs': {name: sha256_file(directory / name) for name in sorted(outputs)},
      'extra': dict(extra or {}),
  }
  atomic.write_text(directory / MANIFEST_NAME,
                    json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + '\n')
  return manifest


def read(directory) -> dict | None:
  """The manifest in `directory`, or None when there is none."""
  path = epath.Path(directory) / MANIFEST_NAME
  if not path.exists():
    return None
  try:
    return json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ValueError(f'{path}: not a valid manifest ({e})') from e


def is_complete(directory, *, config: Mapping[str, Any], inputs: Mapping[str, str]) -> bool:
  """True when `directory` holds a manifest for this config and inputs whose outputs verify."""
  manifest = read(directory)
  if manifest is None:
    return False
  if manifest['config_digest'] != fingerprint(config) or manifest['inputs'] != dict(inputs):
    return False
  directory = epath.Path(directory)
  for name, digest in manifest['outputs'].items():
    path = directory / name
    if not path.exists() or sha256_file(path) != digest:
      return False
  return True
