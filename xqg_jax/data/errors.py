"""Bad-input errors that name the file, the line and what is wrong, and the skip policy."""

import collections
import dataclasses
import enum
import os


class BadRecordError(ValueError):
  """A record that cannot be read; the message names file, line (1-based) and problem.

  A path that is a link (the data directory links the user's files) is named by its target:
  the file the user has to fix.
  """

  def __init__(self, path, line: int | None, problem: str):
    path = os.fspath(path)
    self.path = os.path.realpath(path) if os.path.islink(path) else path
    self.line = line
    self.problem = problem
    where = f'{self.path}:{line}' if line is not None else self.path
    super().__init__(f'{where}: {problem}')


class OnBadRecord(enum.Enum):
  FAIL = 'fail'
  SKIP = 'skip'


@dataclasses.dataclass
class BadRecordPolicy:
  """What to do with a bad record: raise (`fail`) or count it and go on (`skip`).

  `skipped` counts skipped records by problem kind; `examples` keeps the first few errors so a
  report can show where they were.
  """
  on_bad_record: OnBadRecord = OnBadRecord.FAIL
  max_examples: int = 10
  skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  examples: list[str] = dataclasses.field(default_factory=list)

  @classmethod
  def from_name(cls, name: str) -> 'BadRecordPolicy':
    try:
      return cls(OnBadRecord(name))
    except ValueError:
      raise ValueError(f'on_bad_record must be one of {[p.value for p in OnBadRecord]}, '
                       f'got {name!r}') from None

  def handle(self, error: BadRecordError, kind: str) -> None:
    """Raises `error` under `fail`; records it under `skip`."""
    if self.on_bad_record is OnBadRecord.FAIL:
      raise error
    self.skipped[kind] += 1
    if len(self.examples) < self.max_examples:
      self.examples.append(str(error))

  @property
  def num_skipped(self) -> int:
    return sum(self.skipped.values())

  def summary(self) -> dict:
    """JSON-ready counts for manifests and logs."""
    return {'skipped': dict(self.skipped), 'num_skipped': self.num_skipped,
            'examples': list(self.examples)}
