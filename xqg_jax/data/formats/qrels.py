"""TREC qrels: `qid iteration docid relevance`, whitespace-separated, one judgement per line."""

from typing import Container, Iterable, Iterator

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import lines
from xqg_jax.io import atomic

_COLUMNS = ('query_id', 'iteration', 'docid', 'relevance')
_SCHEMA = {
    'query_id': fields.string(),
    'iteration': fields.string(),
    'docid': fields.string(),
    'relevance': fields.integer(),
}


def _parse(text: str) -> records.Qrel:
  row = fields.check_object(fields.columns(text.split(), _COLUMNS, 'whitespace'), _SCHEMA)
  return records.Qrel(row['query_id'], row['docid'], row['relevance'])


def read_qrels(path, policy: errors.BadRecordPolicy | None = None,
               docids: Container[str] | None = None) -> Iterator[records.Qrel]:
  """Streams the judgements of `path` (the iteration column is read and ignored).

  Bad kinds: those of `lines.read_records`, `wrong_column_count`, `not_an_integer`,
  `duplicate` (a repeated (query id, docid) pair) and, given the corpus's `docids`,
  `unknown_docid` (a judged passage the corpus does not hold: it could never be retrieved).
  """
  policy = errors.BadRecordPolicy() if policy is None else policy
  for number, qrel in lines.read_records(path, policy, _parse,
                                         key=lambda qrel: (qrel.query_id, qrel.docid),
                                         label='(query id, docid)'):
    if docids is not None and qrel.docid not in docids:
      policy.handle(errors.BadRecordError(
          path, number, f'docid {qrel.docid!r} is not in the corpus'), 'unknown_docid')
      continue
    yield qrel


def read_qrels_dict(path, policy: errors.BadRecordPolicy | None = None
                    ) -> dict[str, dict[str, int]]:
  """The judgements of `path` as `{query id: {docid: relevance}}`."""
  out: dict[str, dict[str, int]] = {}
  for qrel in read_qrels(path, policy):
    out.setdefault(qrel.query_id, {})[qrel.docid] = qrel.relevance
  return out


def write_qrels(path, qrels: Iterable[records.Qrel]) -> int:
  """Writes `qrels` in order to `path` atomically (iteration 0); returns how many were written."""
  count = 0
  with atomic.atomic_open(path, 'w') as f:
    for qrel in qrels:
      f.write(fields.join_tokens(qrel.query_id, '0', qrel.docid, str(qrel.relevance)))
      count += 1
  return count
