"""Tevatron training JSONL: `{"query_id", "query", "positive_passages", "negative_passages"}`.

Each passage is `{"docid", "title", "text"}` and becomes `records.Passage(id=docid, ...)`.
"""

from typing import Iterable, Iterator

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import jsonl

_PASSAGE = fields.nested(
    {'docid': fields.string(non_empty=True), 'title': fields.string(),
     'text': fields.string(non_empty=True)},
    lambda docid, title, text: records.Passage(id=docid, text=text, title=title))

_SCHEMA = {
    'query_id': fields.string(non_empty=True),
    'query': fields.string(non_empty=True),
    'positive_passages': fields.items(_PASSAGE, non_empty=True),
    'negative_passages': fields.items(_PASSAGE),
}


def read_train_groups(path, policy: errors.BadRecordPolicy | None = None
                      ) -> Iterator[records.TrainGroup]:
  """Streams the training groups of `path`.

  Passage errors name the passage, e.g. `missing field 'negative_passages[2].title'`. No positive
  passage is `empty_positive_passages`; a repeated query_id is `duplicate`.
  """
  return (records.TrainGroup(**obj) for _, obj in jsonl.iter_json_lines(
      path, policy, schema=_SCHEMA, key=lambda obj: obj['query_id'], label='query_id'))


def _passage_json(passage: records.Passage) -> dict[str, str]:
  return {'docid': passage.id, 'title': passage.title, 'text': passage.text}


def write_train_groups(path, groups: Iterable[records.TrainGroup]) -> int:
  """Writes `groups` to `path` atomically; returns how many were written."""
  return jsonl.write_json_lines(path, ({
      'query_id': group.query_id,
      'query': group.query,
      'positive_passages': [_passage_json(p) for p in group.positive_passages],
      'negative_passages': [_passage_json(p) for p in group.negative_passages],
  } for group in groups))
