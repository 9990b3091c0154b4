"""A JSON file holding one array of objects (DPR's training files), read one element at a time.

The file is never loaded whole: it is decoded in 1 MiB chunks, each element as soon as it is
complete, so memory is bounded by the largest element (`max_element_bytes`). An element that is
not an object, or fails the schema, is a bad record (the skip policy applies) named by its index
and the line it starts on. Broken JSON syntax ends the read with an error naming the line: after
it, no element boundary can be trusted, so it is never skipped.
"""

import json
from typing import Any, Iterator

from etils import epath

from xqg_jax.data import errors
from xqg_jax.data.formats import fields

_CHUNK = 1 << 20
MAX_ELEMENT_BYTES = 64 << 20
_WHITESPACE = ' \t\n\r'


class _Reader:
  """A text buffer over a file that tracks the line number of its start."""

  def __init__(self, f, path):
    self._f, self._path = f, path
    self.text, self.start_line, self.eof = '', 1, False

  def more(self) -> bool:
    chunk = self._f.read(_CHUNK)
    if not chunk:
      self.eof = True
      return False
    self.text += chunk
    return True

  def drop(self, pos: int) -> None:
    self.start_line += self.text.count('\n', 0, pos)
    self.text = self.text[pos:]

  def skip_space(self) -> None:
    while True:
      stripped = self.text.lstrip(_WHITESPACE)
      self.drop(len(self.text) - len(stripped))
      if self.text or not self.more():
        return

  def error(self, problem: str) -> errors.BadRecordError:
    return errors.BadRecordError(self._path, self.start_line, problem)


def iter_elements(path, policy: errors.BadRecordPolicy | None = None, *,
                  schema: fields.Schema | None = None,
                  max_element_bytes: int = MAX_ELEMENT_BYTES
                  ) -> Iterator[tuple[int, int, dict[str, Any]]]:
  """Yields `(element index, line it starts on, object)` for every good element of `path`.

  With `schema`, each object is replaced by its checked values (`fields.check_object`).
  """
  policy = errors.BadRecordPolicy() if policy is None else policy
  decoder = json.JSONDecoder()
  with epath.Path(path).open('r', encoding='utf-8-sig') as f:
    reader = _Reader(f, path)
    reader.skip_space()
    if not reader.text.startswith('['):
      found = 'an empty file' if not reader.text else f'{reader.text[:1]!r}'
      raise reader.error(f'expected a JSON array of objects, found {found}')
    reader.drop(1)
    index = 0
    while True:
      reader.skip_space()
      if reader.text.startswith(']'):
        break
      if index:
        if not reader.text.startswith(','):
          raise reader.error(_unexpected(reader, "',' or ']' after element " + str(index - 1)))
        reader.drop(1)
        reader.skip_space()
      while True:
        try:
          value, end = decoder.raw_decode(reader.text)
          break
        except json.JSONDecodeError as e:
          if len(reader.text) > max_element_bytes:
            raise reader.error(f'element {index} is longer than {max_element_bytes} bytes '
                               'or is not valid JSON') from None
          if not reader.more():
            if e.pos >= len(reader.text.rstrip(_WHITESPACE)):
              raise reader.error(f'the file ends inside element {index}: it looks truncated'
                                 ) from None
            raise errors.BadRecordError(
                path, reader.start_line + reader.text.count('\n', 0, e.pos),
                f'invalid JSON in element {index}: {e.msg}') from None
      line = reader.start_line
      reader.drop(end)
      try:
        if not isinstance(value, dict):
          raise fields.Invalid('not_an_object',
                               f'expected a JSON object, got {fields.json_type(value)}')
        obj = value if schema is None else fields.check_object(value, schema)
      except fields.Invalid as e:
        policy.handle(errors.BadRecordError(path, line, f'element {index}: {e.problem}'), e.kind)
      else:
        yield index, line, obj
      index += 1
    reader.drop(1)
    reader.skip_space()
    if reader.text:
      raise reader.error(_unexpected(reader, 'nothing after the closing bracket'))


def _unexpected(reader: _Reader, expected: str) -> str:
  found = repr(reader.text[:1]) if reader.text else 'the end of the file'
  return f'expected {expected}, found {found}'
