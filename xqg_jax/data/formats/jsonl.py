"""JSON Lines, the layer under every JSONL format: one JSON object per line.

Reading goes through `lines.read_records` (bounded memory, file:line errors, the blank-line and
truncation rules described there); a line that is not JSON is `invalid_json`, a JSON value that is
not an object is `not_an_object`. Writing is atomic, UTF-8 (`ensure_ascii=False`), one object per
line, each line ending in a newline.
"""

import json
from typing import Any, Callable, Hashable, Iterable, Iterator, Mapping

from xqg_jax.data import errors
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import lines
from xqg_jax.io import atomic


def parse_object(text: str) -> dict[str, Any]:
  """Decodes one line; raises `fields.Invalid` unless it is a JSON object."""
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    raise fields.Invalid('invalid_json', f'invalid JSON: {e.msg} (column {e.colno})') from None
  if not isinstance(value, dict):
    raise fields.Invalid('not_an_object',
                         f'expected a JSON object, got {fields.json_type(value)}')
  return value


def iter_json_lines(path, policy: errors.BadRecordPolicy | None = None, *,
                    schema: fields.Schema | None = None,
                    key: Callable[[dict[str, Any]], Hashable] | None = None, label: str = 'id',
                    max_line_bytes: int = lines.MAX_LINE_BYTES
                    ) -> Iterator[tuple[int, dict[str, Any]]]:
  """Yields `(1-based line number, object)` for every good line of `path`.

  Args:
    path: the JSONL file.
    policy: what to do with bad lines; None raises on the first one.
    schema: if given, each object must have exactly its keys and is replaced by the checked
      values (`fields.check_object`).
    key: if given, objects whose `key(object)` repeats an earlier one are bad (`duplicate`).
    label: what the key is called in duplicate messages.
    max_line_bytes: longer lines are bad (`line_too_long`) and are never read whole.
  """

  def parse(text):
    obj = parse_object(text)
    return obj if schema is None else fields.check_object(obj, schema)

  return lines.read_records(path, policy, parse, key=key, label=label,
                            max_line_bytes=max_line_bytes)


def write_json_lines(path, objects: Iterable[Mapping[str, Any]]) -> int:
  """Writes one object per line to `path` atomically; returns the number of lines."""
  count = 0
  with atomic.atomic_open(path, 'w') as f:
    for obj in objects:
      f.write(json.dumps(obj, ensure_ascii=False) + '\n')
      count += 1
  return count
