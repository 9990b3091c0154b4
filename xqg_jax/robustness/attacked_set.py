"""What every attack is: a transformation of a query set with a recorded budget.

An attack maps queries to `AttackedQuery` records, one per input query, in input order. A
query the attack cannot change (nothing to substitute, no known paraphrase) keeps
`attacked=None` and a `reason`; it is counted as unattacked and reported, never silently
passed through as if attacked. `edits` counts the attack's units (`unit`: 'char', 'word' or
'token') changed, at most `budget`; `length` is the original's size in the same unit, so the
edit rate is `edits / length`. Randomness comes from (seed, attack name, query id) only
(`randomness.numpy_rng`), so an attacked set does not depend on order or batching.

Attacked sets are stored as JSONL (`write_attacked` / `read_attacked`).
"""

import dataclasses
from typing import Iterable, Iterator, Protocol, Sequence

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import jsonl
from xqg_jax.data.formats import lines

UNITS = ('char', 'word', 'token')


@dataclasses.dataclass(frozen=True)
class AttackedQuery:
  """One query before and after an attack."""
  id: str
  lang: str
  original: str
  attacked: str | None  # None: the attack could not change this query (see `reason`)
  edits: int
  length: int  # the original's length in `unit`s
  budget: int
  unit: str
  reason: str = ''

  def __post_init__(self):
    if self.unit not in UNITS:
      raise ValueError(f'query {self.id!r}: unit must be one of {UNITS}, got {self.unit!r}')
    if self.attacked is None and not self.reason:
      raise ValueError(f'query {self.id!r}: an unattacked query needs a reason')
    if self.attacked is not None and self.attacked == self.original:
      raise ValueError(f'query {self.id!r}: the attacked text equals the original (a no-op)')
    if not 0 <= self.edits <= self.budget:
      raise ValueError(f'query {self.id!r}: {self.edits} edits outside the budget {self.budget}')

  @property
  def text(self) -> str:
    """What to search with: the attacked text, or the original when unattacked."""
    return self.original if self.attacked is None else self.attacked

  @property
  def edit_rate(self) -> float:
    return self.edits / max(self.length, 1)


class Attack(Protocol):
  """A named, budgeted transformation of queries."""
  name: str

  def __call__(self, queries: Sequence[records.Query]) -> list[AttackedQuery]:
    ...


def unattacked(query: records.Query, *, reason: str, budget: int, unit: str,
               length: int) -> AttackedQuery:
  return AttackedQuery(query.id, query.lang, query.question, None, 0, length, budget, unit,
                       reason)


def _count(value, name):
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    raise fields.Invalid('wrong_type', f'field {name!r} must be a count (integer >= 0), '
                         f'got {value!r}')
  return value


def _optional_text(value, name):
  return None if value is None else fields.string(non_empty=True)(value, name)


_SCHEMA = {
    'id': fields.string(non_empty=True),
    'lang': fields.language(),
    'original': fields.string(non_empty=True),
    'attacked': _optional_text,
    'edits': _count,
    'length': _count,
    'budget': _count,
    'unit': fields.string(non_empty=True),
    'reason': fields.string(),
}


def _parse(text: str) -> AttackedQuery:
  obj = fields.check_object(jsonl.parse_object(text), _SCHEMA)
  try:
    return AttackedQuery(**obj)
  except ValueError as e:
    raise fields.Invalid('invalid_attack', str(e)) from e


def write_attacked(path, rows: Iterable[AttackedQuery]) -> int:
  """Writes `rows` to `path` atomically; returns how many were written."""
  return jsonl.write_json_lines(path, map(dataclasses.asdict, rows))


def read_attacked(path, policy: errors.BadRecordPolicy | None = None
                  ) -> Iterator[AttackedQuery]:
  """Streams an attacked set; errors name the file and line (`invalid_attack` for a record
  that breaks the invariants above)."""
  return (row for _, row in lines.read_records(path, policy, _parse, key=lambda row: row.id))
