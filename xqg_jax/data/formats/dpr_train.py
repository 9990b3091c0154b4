"""DPR's retriever training JSON (`xor_train_retrieve_eng_dpr.json`, `biencoder-nq-train.json`).

One JSON array; each element is a question with its passages:

  {"question", "answers": [str], "lang", "positive_ctxs": [ctx, ...],
   "negative_ctxs": [ctx, ...], "hard_negative_ctxs": [ctx, ...]}

and optionally `id` (else the question is `dpr-{element index}`) and `dataset`. A ctx is
`{"title", "text"}` with optional `passage_id`, `score`, `title_score` and `has_answer`; without a
`passage_id` its docid is `ctx-` plus a digest of its title and text, so the same passage gets the
same id wherever it appears. `lang` is required: XOR-Retrieve questions need it for per-language
results (DPR's English files have none).
"""

import dataclasses
import hashlib
from typing import Iterator, Sequence

from xqg_jax.data import errors
from xqg_jax.data import records
from xqg_jax.data.formats import fields
from xqg_jax.data.formats import json_array


@dataclasses.dataclass(frozen=True)
class DprQuestion:
  """A training question with its positive, hard-negative and other negative passages."""
  query: records.Query
  positives: tuple[records.Passage, ...]
  hard_negatives: tuple[records.Passage, ...]
  negatives: tuple[records.Passage, ...]


def _passage_id(value, name):
  if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
    raise fields.Invalid('wrong_type', f'field {name!r} must be a non-empty string or integer, '
                         f'got {fields.json_type(value)}')
  return str(value)


def _anything(value, name):
  del name
  return value


def _ctx(passage_id, title, text, score, title_score, has_answer) -> records.Passage:
  del score, title_score, has_answer
  if passage_id is None:
    digest = hashlib.sha256(f'{title}\t{text}'.encode('utf-8')).hexdigest()[:16]
    passage_id = f'ctx-{digest}'
  return records.Passage(id=passage_id, text=text, title=title)


_CTX = fields.nested({
    'title': fields.string(), 'text': fields.string(non_empty=True),
    'passage_id': fields.optional(_passage_id), 'score': fields.optional(_anything),
    'title_score': fields.optional(_anything), 'has_answer': fields.optional(_anything),
}, _ctx)


def _schema(selected: Sequence[str] | None) -> fields.Schema:
  return {
      'id': fields.optional(fields.string(non_empty=True)),
      'dataset': fields.optional(_anything),
      'question': fields.string(non_empty=True),
      'answers': fields.items(fields.string(), non_empty=True),
      'lang': fields.language(selected),
      'positive_ctxs': fields.items(_CTX, non_empty=True),
      'negative_ctxs': fields.optional(fields.items(_CTX), ()),
      'hard_negative_ctxs': fields.optional(fields.items(_CTX), ()),
  }


def read_dpr_questions(path, policy: errors.BadRecordPolicy | None = None, *,
                       languages: Sequence[str] | None = None) -> Iterator[DprQuestion]:
  """Streams the training questions of `path` (bounded memory, `json_array`).

  Bad kinds: those of `json_array.iter_elements` and `fields` (`missing_field`, `extra_field`,
  `wrong_type`, `empty_question`, `empty_answers`, `empty_positive_ctxs`, `unknown_language`,
  `unselected_language`) and `duplicate` (a repeated question id, naming its first line).
  """
  policy = errors.BadRecordPolicy() if policy is None else policy
  seen = fields.Duplicates('question id')
  for index, line, obj in json_array.iter_elements(path, policy, schema=_schema(languages)):
    qid = obj['id'] or f'dpr-{index}'
    try:
      seen.add(qid, line)
    except fields.Invalid as e:
      policy.handle(errors.BadRecordError(path, line, f'element {index}: {e.problem}'), e.kind)
      continue
    yield DprQuestion(
        query=records.Query(id=qid, question=obj['question'], answers=obj['answers'],
                            lang=obj['lang']),
        positives=obj['positive_ctxs'], hard_negatives=obj['hard_negative_ctxs'],
        negatives=obj['negative_ctxs'])
