"""XOR-TyDi query JSONL: `{"id", "question", "answers": [str, ...], "lang"}` per line.

`answers` is absent in the released question-only test file
(`xor_test_retrieve_eng_span_q_only_v1_1.jsonl`): such a query reads with `answers == ()` and
cannot be scored.
"""

import dataclasses
from typing import Iterable, Iterator, Sequence

from xqg_jax import languages as languages_lib
from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import jsonl


def _schema(selected: Sequence[str] | None) -> fields.Schema:
  return {
      'id': fields.string(non_empty=True),
      'question': fields.string(non_empty=True),
      'answers': fields.optional(fields.items(fields.string(), non_empty=True), ()),
      'lang': fields.language(selected),
  }


def read_queries(path, policy: errors.BadRecordPolicy | None = None, *,
                 languages: Sequence[str] | None = None) -> Iterator[records.Query]:
  """Streams the queries of `path`; with `languages`, a query in any other language is bad.

  Bad kinds: those of `jsonl.iter_json_lines`, `missing_field`, `extra_field`, `wrong_type`,
  `empty_id`, `empty_question`, `empty_answers`, `unknown_language`, `unselected_language` and
  `duplicate` (the message names the line of the first occurrence).
  """
  selected = None if languages is None else languages_lib.validate(languages)
  return (records.Query(**obj) for _, obj in jsonl.iter_json_lines(
      path, policy, schema=_schema(selected), key=lambda obj: obj['id']))


def write_queries(path, queries: Iterable[records.Query]) -> int:
  """Writes `queries` to `path` atomically; returns how many were written."""
  return jsonl.write_json_lines(path, map(dataclasses.asdict, queries))
