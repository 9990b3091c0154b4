"""The line reader under every line-oriented format: bounded memory, file:line errors, skip policy.

Lines are read as bytes, at most `max_line_bytes` at a time, so an over-long line is measured and
discarded without ever being held in memory. Each line is checked in this order:

- over-long (`line_too_long`) and invalid UTF-8 (`invalid_utf8`, naming the byte offset);
- blank (empty or whitespace-only) lines: at the end of the file they are ignored (editors and
  `cat` leave them); anywhere else each one is a bad record of kind `blank_line`;
- the format's `parse` (raising `fields.Invalid`); when the failing line is the last one and has
  no trailing newline, the file was most likely cut off, so the kind is `truncated`;
- duplicate keys (`duplicate`), checked only for records that parsed.

A UTF-8 byte order mark at the start of the file and `\\r\\n` line ends are accepted.
"""

from typing import Callable, Hashable, Iterator, TypeVar

from etils import epath

from xqg_jax.data import errors
from xqg_jax.data.formats import fields

T = TypeVar('T')

MAX_LINE_BYTES = 4 << 20
_DISCARD_CHUNK = 1 << 20
_BOM = b'\xef\xbb\xbf'


def _report(policy: errors.BadRecordPolicy, path, line: int, problem: str, kind: str, *,
            terminated: bool = True) -> None:
  if not terminated:
    problem = f'{problem}; the last line has no trailing newline: the file looks truncated'
    kind = 'truncated'
  policy.handle(errors.BadRecordError(path, line, problem), kind)


def _discard_rest_of_line(f) -> int:
  """Reads up to and including the next newline in bounded chunks; returns the bytes read."""
  size = 0
  while chunk := f.readline(_DISCARD_CHUNK):
    size += len(chunk)
    if chunk.endswith(b'\n'):
      break
  return size


def _lines(path, policy: errors.BadRecordPolicy,
           max_line_bytes: int) -> Iterator[tuple[int, str, bool]]:
  """Yields `(line number, text without line end, has trailing newline)` for non-blank lines."""
  pending_blank = []  # Blank lines that are bad unless only blank lines follow them.
  with epath.Path(path).open('rb') as f:
    number = 0
    while raw := f.readline(max_line_bytes + 1):
      number += 1
      if number == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM):]
      terminated = raw.endswith(b'\n')
      too_long = not terminated and len(raw) > max_line_bytes
      if not too_long:
        content = raw.removesuffix(b'\n').removesuffix(b'\r')
        if not content.strip():
          pending_blank.append(number)
          continue
      for blank in pending_blank:
        _report(policy, path, blank, 'blank line', 'blank_line')
      pending_blank.clear()
      if too_long:
        size = len(raw) + _discard_rest_of_line(f)
        _report(policy, path, number,
                f'line is longer than {max_line_bytes} bytes ({size} bytes with its newline)',
                'line_too_long')
        continue
      try:
        text = content.decode('utf-8')
      except UnicodeDecodeError as e:
        _report(policy, path, number,
                f'invalid UTF-8 at byte offset {e.start} of the line '
                f'(byte 0x{content[e.start]:02x})', 'invalid_utf8', terminated=terminated)
        continue
      yield number, text, terminated


def read_records(path, policy: errors.BadRecordPolicy | None, parse: Callable[[str], T], *,
                 key: Callable[[T], Hashable] | None = None, label: str = 'id',
                 header: str | None = None,
                 max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, T]]:
  """Yields `(1-based line number, parse(line text))` for every good record of `path`.

  Args:
    path: the file (any `etils.epath` path).
    policy: what to do with bad records; None raises on the first one.
    parse: turns one line's text into a record; raises `fields.Invalid` for a bad one.
    key: if given, records with the same `key(record)` as an earlier record are bad
      (`duplicate`); the message names `label` and the line of the first occurrence.
    label: what the key is called in duplicate messages.
    header: a first line equal to this text is a header and is skipped.
    max_line_bytes: longer lines are bad records (`line_too_long`), never read whole.
  """
  policy = errors.BadRecordPolicy() if policy is None else policy
  seen = fields.Duplicates(label) if key is not None else None
  for number, text, terminated in _lines(path, policy, max_line_bytes):
    if number == 1 and header is not None and text == header:
      continue
    try:
      record = parse(text)
    except fields.Invalid as e:
      _report(policy, path, number, e.problem, e.kind, terminated=terminated)
      continue
    if seen is not None:
      try:
        seen.add(key(record), number)
      except fields.Invalid as e:
        _report(policy, path, number, e.problem, e.kind)
        continue
    yield number, record
