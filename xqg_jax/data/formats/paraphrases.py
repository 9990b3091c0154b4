"""Paraphrase JSONL: `{"id", "lang", "paraphrases": [str, ...]}` per line.

Known meaning-preserving rewrites of a query, keyed by query id: the synthetic benchmark writes
them, and a user may supply their own for the paraphrase attack.
"""

import dataclasses
from typing import Iterable, Iterator

from xqg_jax.data import errors
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import jsonl

_SCHEMA = {
    'id': fields.string(non_empty=True),
    'lang': fields.language(),
    'paraphrases': fields.items(fields.string(non_empty=True)),
}


@dataclasses.dataclass(frozen=True)
class Paraphrases:
  id: str
  lang: str
  paraphrases: tuple[str, ...]


def read_paraphrases(path, policy: errors.BadRecordPolicy | None = None
                     ) -> Iterator[Paraphrases]:
  """Streams the rows of `path`; bad kinds as for `queries.read_queries`."""
  return (Paraphrases(obj['id'], obj['lang'], tuple(obj['paraphrases']))
          for _, obj in jsonl.iter_json_lines(path, policy, schema=_SCHEMA,
                                              key=lambda obj: obj['id']))


def write_paraphrases(path, rows: Iterable[Paraphrases]) -> int:
  """Writes `rows` to `path` atomically; returns how many were written."""
  return jsonl.write_json_lines(path, map(dataclasses.asdict, rows))
