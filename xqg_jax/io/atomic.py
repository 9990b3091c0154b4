"""Atomic file writes through `etils.epath`: write a temporary sibling, fsync, rename.

A reader never sees a partial file under the final name: either the old content (or nothing)
or the complete new content. On local disks the data is fsynced before the rename; on object
stores (`gs://`) the upload of the temporary object is itself atomic and the rename is a copy.
"""

import contextlib
import os
import uuid
from typing import IO, Iterator

from etils import epath

_TEMP_MARK = '.tmp-'


def _is_local(path: epath.Path) -> bool:
  return '://' not in os.fspath(path)


def temp_sibling(path: epath.Path) -> epath.Path:
  """A unique temporary name next to `path` (same directory, so rename is atomic)."""
  return path.parent / f'.{path.name}{_TEMP_MARK}{uuid.uuid4().hex[:12]}'


def is_temporary(name: str) -> bool:
  """Whether `name` is a `temp_sibling` name (one a killed writer may have left behind)."""
  return name.startswith('.') and _TEMP_MARK in name


@contextlib.contextmanager
def atomic_open(path, mode: str = 'w', encoding: str | None = 'utf-8') -> Iterator[IO]:
  """Opens a temporary file for writing; on clean exit it becomes `path` atomically.

  On an exception the temporary file is removed and `path` is left untouched.
  """
  if mode not in ('w', 'wb'):
    raise ValueError(f'atomic_open writes only, got mode {mode!r}')
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = temp_sibling(path)
  kwargs = {'encoding': encoding} if mode == 'w' else {}
  try:
    with tmp.open(mode, **kwargs) as f:
      yield f
      if _is_local(tmp):
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
  except BaseException:
    if tmp.exists():
      tmp.unlink()
    raise
  if _is_local(path):
    _fsync_dir(path.parent)


def _fsync_dir(directory: epath.Path) -> None:
  fd = os.open(os.fspath(directory), os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def write_text(path, text: str) -> None:
  """Writes `text` to `path` atomically."""
  with atomic_open(path, 'w') as f:
    f.write(text)


def write_bytes(path, data: bytes) -> None:
  """Writes `data` to `path` atomically."""
  with atomic_open(path, 'wb', encoding=None) as f:
    f.write(data)


@contextlib.contextmanager
def atomic_directory(path) -> Iterator[epath.Path]:
  """Yields a temporary sibling directory to fill; on clean exit it replaces `path`.

  An existing `path` is moved aside, the new directory renamed in, and the old one deleted, so
  `path` is never a partial directory. On an exception nothing under `path` changes.
  """
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = temp_sibling(path)
  tmp.mkdir()
  try:
    yield tmp
    if _is_local(tmp):
      for child in tmp.iterdir():
        if child.is_file():
          with child.open('rb') as f:
            os.fsync(f.fileno())
    old = temp_sibling(path) if path.exists() else None
    if old:
      path.rename(old)
    tmp.rename(path)
    if old:
      old.rmtree()
  finally:
    if tmp.exists():
      tmp.rmtree()
