"""Text-pair JSONL: `{"id", "lang", "input", "target"}` per line.

Pre-training text for the query generator: it reads `input` and learns to write `target` (in
language `lang`). The synthetic benchmark writes such pairs (`synthetic/pretraining.py`); a
user may supply their own (`xqg.pretrain.path`).
"""

import dataclasses
from typing import Iterable, Iterator

from xqg_jax.data import errors
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import jsonl

_SCHEMA = {
    'id': fields.string(non_empty=True),
    'lang': fields.language(),
    'input': fields.string(non_empty=True),
    'target': fields.string(non_empty=True),
}


@dataclasses.dataclass(frozen=True)
class TextPair:
  id: str
  lang: str
  input: str
  target: str


def read_text_pairs(path, policy: errors.BadRecordPolicy | None = None) -> Iterator[TextPair]:
  """Streams the pairs of `path`; bad kinds as for `queries.read_queries`."""
  return (TextPair(obj['id'], obj['lang'], obj['input'], obj['target'])
          for _, obj in jsonl.iter_json_lines(path, policy, schema=_SCHEMA,
                                              key=lambda obj: obj['id']))


def write_text_pairs(path, pairs: Iterable[TextPair]) -> int:
  """Writes `pairs` to `path` atomically; returns how many were written."""
  return jsonl.write_json_lines(path, map(dataclasses.asdict, pairs))
