"""Record types shared by every reader, writer, builder and stage.

Field names follow the public formats: XOR-TyDi queries (`id, question, answers, lang`), DPR
corpus (`id, text, title`), Tevatron training groups and the released xQG augmented corpus.
"""

import dataclasses

# The query splits that are evaluated (train questions only train).
EVALUATION_SPLITS = ('dev', 'test')


@dataclasses.dataclass(frozen=True)
class Passage:
  """One corpus passage (a row of psgs_w100.tsv)."""
  id: str
  text: str
  title: str


@dataclasses.dataclass(frozen=True)
class Query:
  """One XOR-TyDi question with its English answer strings (none: an unlabeled question)."""
  id: str
  question: str
  answers: tuple[str, ...]
  lang: str


@dataclasses.dataclass(frozen=True)
class TrainGroup:
  """One Tevatron training row: a query with positive and hard-negative passages."""
  query_id: str
  query: str
  positive_passages: tuple[Passage, ...]
  negative_passages: tuple[Passage, ...]


@dataclasses.dataclass(frozen=True)
class AugmentedPassage:
  """A passage with its generated questions per language (the released xQG layout)."""
  docid: str
  title: str
  text: str
  generated_queries: dict[str, tuple[str, ...]]


@dataclasses.dataclass(frozen=True)
class Qrel:
  """One TREC qrels judgement."""
  query_id: str
  docid: str
  relevance: int


@dataclasses.dataclass(frozen=True)
class RunEntry:
  """One TREC run line: `qid Q0 docid rank score tag`."""
  query_id: str
  docid: str
  rank: int
  score: float
  tag: str
