"""The generated questions of the augmented-corpus shards, one record per question.

Question ids are `docid<TAB>lang<TAB>i` (i: the question's index within its language): a tab
cannot occur in a docid (the corpus is TSV) and ids files hold one id per line.
"""

import bisect
import dataclasses

from etils import epath

from xqg_jax.data.formats import augmented

_SEP = '\t'


@dataclasses.dataclass(frozen=True)
class Question:
  docid: str
  lang: str
  index: int
  text: str

  @property
  def id(self) -> str:
    return question_id(self.docid, self.lang, self.index)


def question_id(docid: str, lang: str, index: int) -> str:
  return f'{docid}{_SEP}{lang}{_SEP}{index}'


def question_id_prefix(docid: str) -> str:
  """What every question id of passage `docid` starts with."""
  return f'{docid}{_SEP}'


def parse_question_id(qid: str) -> tuple[str, str, int]:
  """(docid, lang, index) of a question id; a clear error when it is not one."""
  parts = qid.split(_SEP)
  if len(parts) != 3 or not parts[2].isdigit():
    raise ValueError(f'{qid!r} is not a generated-question id (docid<TAB>lang<TAB>index)')
  return parts[0], parts[1], int(parts[2])


def _questions(path) -> list[Question]:
  return [Question(row.docid, lang, i, text)
          for row in augmented.read_augmented(path, check_duplicates=False)
          for lang, texts in row.generated_queries.items() for i, text in enumerate(texts)]


class GeneratedQuestions:
  """Random access to every question of `files`, in file order, one file in memory at a time.

  `ranges` gives each file's `[start, stop)` among all questions (one embedding shard per
  file, so the embedding shards line up with the corpus shards they were generated from).
  """

  def __init__(self, files):
    self._files = [epath.Path(f) for f in files]
    if not self._files:
      raise ValueError('no generated-question files')
    self._starts = [0]
    for path in self._files:
      self._starts.append(self._starts[-1] + len(_questions(path)))
    self._cached: tuple[int, list[Question]] | None = None

  @property
  def ranges(self) -> list[tuple[int, int]]:
    return list(zip(self._starts[:-1], self._starts[1:]))

  def __len__(self) -> int:
    return self._starts[-1]

  def __getitem__(self, index: int) -> Question:
    if not 0 <= index < len(self):
      raise IndexError(index)
    f = bisect.bisect_right(self._starts, index) - 1
    if self._cached is None or self._cached[0] != f:
      self._cached = (f, _questions(self._files[f]))
    return self._cached[1][index - self._starts[f]]
