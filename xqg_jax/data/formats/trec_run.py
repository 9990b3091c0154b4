"""TREC run files: `qid Q0 docid rank score tag`, whitespace-separated, one hit per line.

Written with queries in sorted id order, hits by score descending with ties by docid
ascending (deterministic; trec_eval itself orders tied scores by docid descending, so tied hits
may swap places there), ranks from 1, scores with 9 significant digits.
"""

from typing import Iterator, Mapping, Sequence

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import lines
from xqg_jax.io import atomic

Run = dict[str, list[tuple[str, float]]]

_COLUMNS = ('query_id', 'q0', 'docid', 'rank', 'score', 'tag')
_SCHEMA = {
    'query_id': fields.string(),
    'q0': fields.literal('Q0'),
    'docid': fields.string(),
    'rank': fields.integer(),
    'score': fields.number(),
    'tag': fields.string(),
}


def _parse(text: str) -> records.RunEntry:
  row = fields.check_object(fields.columns(text.split(), _COLUMNS, 'whitespace'), _SCHEMA)
  return records.RunEntry(row['query_id'], row['docid'], row['rank'], row['score'], row['tag'])


def ranked(hits: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
  """`hits` in run order: score descending, ties by docid ascending."""
  return sorted(hits, key=lambda hit: (-hit[1], hit[0]))


def read_run_entries(path, policy: errors.BadRecordPolicy | None = None
                     ) -> Iterator[records.RunEntry]:
  """Streams the lines of `path` in file order.

  Bad kinds: those of `lines.read_records`, `wrong_column_count`, `unexpected_value` (second
  column not `Q0`), `not_an_integer` (rank), `not_a_number` (score, also nan/inf) and
  `duplicate` (a docid twice for one query).
  """
  return (entry for _, entry in lines.read_records(
      path, policy, _parse, key=lambda entry: (entry.query_id, entry.docid),
      label='(query id, docid)'))


def read_run(path, policy: errors.BadRecordPolicy | None = None) -> Run:
  """The run of `path` as `{query id: [(docid, score), ...]}`, each list by (-score, docid).

  As in trec_eval, the order comes from the scores (ties as in `ranked`); the rank column is
  only validated.
  """
  run: Run = {}
  for entry in read_run_entries(path, policy):
    run.setdefault(entry.query_id, []).append((entry.docid, entry.score))
  return {query_id: ranked(hits) for query_id, hits in run.items()}


def write_run(path, run: Mapping[str, Sequence[tuple[str, float]]], tag: str,
              hits: int | None = None) -> int:
  """Writes `run` to `path` atomically, keeping the top `hits` per query; returns the lines."""
  count = 0
  with atomic.atomic_open(path, 'w') as f:
    for query_id in sorted(run):
      for rank, (docid, score) in enumerate(ranked(run[query_id])[:hits], start=1):
        f.write(fields.join_tokens(query_id, 'Q0', docid, str(rank), format(score, '.9g'), tag))
        count += 1
  return count
