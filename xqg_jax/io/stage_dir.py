"""Running a stage at most once: skip when its manifest proves the outputs, else produce them.

A stage is `produce(directory) -> (outputs, extra)`: it writes each output atomically under
`directory` and returns their relative paths and JSON-ready facts for the manifest. The
manifest is written last, so an interrupted stage has none and is redone on the next run.

Inside a pipeline stage (`declared_reads`), every manifest also records the digest of all the
config fields and files that stage declares it reads, so work is reused only under the same
declared inputs, even where a manifest's own `config` names fewer of them.
"""

import contextlib
import contextvars
import json
import time
from typing import Any, Callable, Mapping

from absl import logging
from etils import epath

from xqg_jax.io import atomic
from xqg_jax.io import manifest as manifest_lib

WORK_NAME = 'work.json'  # the settings that shards in a directory were made with

Produce = Callable[[epath.Path], tuple[list[str], Mapping[str, Any]]]
_DECLARED_READS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    'declared_reads', default=None)


@contextlib.contextmanager
def declared_reads(digest: str):
  """Within this block, every manifest and shard record also holds `digest` (module docstring)."""
  token = _DECLARED_READS.set(digest)
  try:
    yield
  finally:
    _DECLARED_READS.reset(token)


def _scoped(config: Mapping[str, Any]) -> dict[str, Any]:
  digest = _DECLARED_READS.get()
  return dict(config) if digest is None else {**config, 'declared_reads': digest}


def files_under(directory, sub: str) -> list[str]:
  """Every file under `directory/sub`, as paths relative to `directory` (sorted).

  Temporary files and directories that an interrupted atomic write left are not outputs and
  are skipped.
  """
  directory = epath.Path(directory)
  found, pending = [], [directory / sub]
  while pending:  # epath has no recursive glob (it would be costly on gs://).
    for path in pending.pop().iterdir():
      if not atomic.is_temporary(path.name):
        (pending if path.is_dir() else found).append(path)
  return sorted(str(p.relative_to(directory)) for p in found)


def digest(directory) -> str:
  """A digest of a finished stage's outputs, for the `inputs` of the stages that read them."""
  manifest = manifest_lib.read(directory)
  if manifest is None:
    raise FileNotFoundError(f'{directory}: no {manifest_lib.MANIFEST_NAME}; run that stage first')
  return manifest_lib.fingerprint(manifest['outputs'])


def content_digest(path) -> str:
  """sha256 of a file's bytes, or of a directory's files (relative names and bytes), streamed."""
  path = epath.Path(path)
  if not path.is_dir():
    return manifest_lib.sha256_file(path)
  return manifest_lib.fingerprint(
      {name: manifest_lib.sha256_file(path / name) for name in files_under(path, '.')})


def is_done(directory, *, config: Mapping[str, Any], inputs: Mapping[str, str]) -> bool:
  """Whether `directory` holds a verified manifest for this config and inputs."""
  return manifest_lib.is_complete(directory, config=_scoped(config), inputs=inputs)


def begin_shards(directory, *, config: Mapping[str, Any], inputs: Mapping[str, str]) -> None:
  """Prepares `directory` for per-shard resumable work under this config and inputs.

  Shards left by an interrupted run are kept only when `work.json` shows they were made with
  the same config and inputs; otherwise the directory is emptied first, so a shard from other
  settings is never taken as done. Call on every process before writing shards (with several
  processes, process 0 must finish this before the others start: the stage's caller syncs).
  """
  directory = epath.Path(directory)
  work = {'config_digest': manifest_lib.fingerprint(_scoped(config)), 'inputs': dict(inputs)}
  path = directory / WORK_NAME
  if path.exists() and json.loads(path.read_text()) == work:
    return
  if directory.exists() and any(directory.iterdir()):
    logging.info('%s: removing shards made with other settings', directory)
    for child in directory.iterdir():
      child.rmtree() if child.is_dir() else child.unlink()
  directory.mkdir(parents=True, exist_ok=True)
  atomic.write_text(path, json.dumps(work, sort_keys=True) + '\n')


def run(directory, *, stage: str, config: Mapping[str, Any], inputs: Mapping[str, str],
        produce: Produce, force: bool = False) -> dict:
  """Runs `produce` unless `directory` already holds a verified manifest for this work."""
  directory = epath.Path(directory)
  if not force and is_done(directory, config=config, inputs=inputs):
    logging.vlog(1, '%s: outputs verified by %s, skipping', stage, directory / 'manifest.json')
    return manifest_lib.read(directory)
  start = time.perf_counter()
  directory.mkdir(parents=True, exist_ok=True)
  outputs, extra = produce(directory)
  extra = {**extra, 'seconds': round(time.perf_counter() - start, 3)}
  logging.vlog(1, '%s: done in %.1f s -> %s', stage, extra['seconds'], directory)
  return manifest_lib.write(directory, stage=stage, config=_scoped(config), inputs=inputs,
                            outputs=outputs, extra=extra)
