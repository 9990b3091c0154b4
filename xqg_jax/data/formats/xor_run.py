"""The XOR-Retrieve submission file: one JSON array of `{"id", "lang", "ctxs"}` objects.

As read by the official `eval_xor_retrieve.py`: `id` is the question id, `lang` its language and
`ctxs` the **texts** of the retrieved passages in rank order (not their ids; the script
word-tokenizes each string). Other keys are ignored, as the official script ignores them.
Written atomically, one object per line inside the array, UTF-8 (`ensure_ascii=False`).

Read errors name the file and the item (`path: item 3: field 'ctxs' must be an array, got
string`); invalid JSON names the line. Bad kinds: `invalid_json` and `not_an_array` (always
fatal), `not_an_object`, `missing_field`, `wrong_type`, `empty_id`, `unknown_language` and
`duplicate` (an id seen before).
"""

import dataclasses
import json
from typing import Iterable, Iterator, Mapping, Sequence

from etils import epath

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import fields
from xqg_jax.io import atomic

_SCHEMA = {
    'id': fields.string(non_empty=True),
    'lang': fields.language(),
    'ctxs': fields.items(fields.string()),
}


@dataclasses.dataclass(frozen=True)
class XorRunEntry:
  """One question's retrieved passage texts, in rank order."""
  id: str
  lang: str
  ctxs: tuple[str, ...]


def from_ranking(ranking: Mapping[str, Sequence[str]], queries: Iterable[records.Query],
                 passage_text: Mapping[str, str], depth: int | None = None
                 ) -> Iterator[XorRunEntry]:
  """The entries of `queries` (in order) from ranked docids, keeping the top `depth` texts."""
  for query in queries:
    if query.id not in ranking:
      raise KeyError(f'no ranking for query {query.id!r}')
    docids = ranking[query.id][:depth]
    yield XorRunEntry(query.id, query.lang, tuple(passage_text[d] for d in docids))


def write_xor_run(path, entries: Iterable[XorRunEntry]) -> int:
  """Writes `entries` to `path` atomically; returns how many were written."""
  count = 0
  with atomic.atomic_open(path, 'w') as f:
    f.write('[')
    for entry in entries:
      f.write(',\n' if count else '\n')
      f.write(json.dumps(dataclasses.asdict(entry), ensure_ascii=False))
      count += 1
    f.write('\n]\n')
  return count


def read_xor_run(path, policy: errors.BadRecordPolicy | None = None) -> list[XorRunEntry]:
  """The entries of `path` in file order; bad items raise or are skipped under `policy`."""
  policy = errors.BadRecordPolicy() if policy is None else policy
  try:
    items = json.loads(epath.Path(path).read_text(encoding='utf-8'))
  except json.JSONDecodeError as e:
    raise errors.BadRecordError(path, e.lineno,
                                f'invalid JSON: {e.msg} (column {e.colno})') from None
  if not isinstance(items, list):
    raise errors.BadRecordError(
        path, None, f'expected a JSON array of objects, got {fields.json_type(items)}')
  entries = []
  first_item: dict[str, int] = {}
  for number, item in enumerate(items, start=1):
    try:
      if not isinstance(item, dict):
        raise fields.Invalid('not_an_object',
                             f'expected a JSON object, got {fields.json_type(item)}')
      entry = XorRunEntry(**fields.check_object(
          {key: value for key, value in item.items() if key in _SCHEMA}, _SCHEMA))
      first = first_item.setdefault(entry.id, number)
      if first != number:
        raise fields.Invalid('duplicate', f'duplicate id {entry.id!r} (first in item {first})')
    except fields.Invalid as e:
      policy.handle(errors.BadRecordError(path, None, f'item {number}: {e.problem}'), e.kind)
      continue
    entries.append(entry)
  return entries
