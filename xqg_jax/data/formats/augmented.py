"""The xQG augmented corpus JSONL: `{"docid", "title", "text", "generated_queries"}` per line.

`generated_queries` maps a language code to that language's generated questions.
"""

import dataclasses
from typing import Iterable, Iterator

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import jsonl

_SCHEMA = {
    'docid': fields.string(non_empty=True),
    'title': fields.string(),
    'text': fields.string(non_empty=True),
    'generated_queries': fields.mapping(fields.language(), fields.items(fields.string())),
}


def read_augmented(path, policy: errors.BadRecordPolicy | None = None, *,
                   check_duplicates: bool = True) -> Iterator[records.AugmentedPassage]:
  """Streams the augmented passages of `path`.

  Language keys must be in the language table (`unknown_language`). `check_duplicates` keeps
  every docid in memory (about 100 bytes each); turn it off for a full-size corpus shard whose
  ids are known to be unique.
  """
  key = (lambda obj: obj['docid']) if check_duplicates else None
  return (records.AugmentedPassage(**obj) for _, obj in jsonl.iter_json_lines(
      path, policy, schema=_SCHEMA, key=key, label='docid'))


def write_augmented(path, passages: Iterable[records.AugmentedPassage]) -> int:
  """Writes `passages` to `path` atomically; returns how many were written."""
  return jsonl.write_json_lines(path, map(dataclasses.asdict, passages))
