"""Standard IR metrics through ir_measures (trec_eval definitions): R@100, RR@10, nDCG@10.

- A run is `{query id: [(docid, score), ...]}` in rank order. The list order is the ranking: the
  measures see scores made from the ranks, so ties keep the run's order (trec_eval would break
  score ties by docid, descending).
- A judgement with relevance > 0 is relevant; nDCG@10 gains are the graded relevances.
- Counted queries: those of `lang_of` with at least one relevant judgement. A counted query
  missing from the run scores 0; judgements of other queries are ignored.
- A language's score is the mean over its counted queries; the macro average is the mean over
  languages (in the order of the language table).
"""

from typing import Collection, Iterable, Mapping, Sequence

import ir_measures
import numpy as np

from xqg_jax import languages
from xqg_jax.data import records

MEASURES = {'R@100': ir_measures.R @ 100, 'RR@10': ir_measures.RR @ 10,
            'nDCG@10': ir_measures.nDCG @ 10}

Run = Mapping[str, Sequence[tuple[str, float]]]


def validate_run(run: Run, query_ids: Collection[str],
                 docids: Collection[str] | None = None) -> None:
  """Checks that every query of `run` is in `query_ids` and every docid in `docids` (if given).

  Raises:
    ValueError: naming the first unknown query id, unknown docid or docid repeated in a query's
      ranking (and how many there are).
  """
  unknown = [qid for qid in run if qid not in query_ids]
  if unknown:
    raise ValueError(f'the run names {len(unknown)} queries that are not in the queries, e.g. '
                     f'{unknown[0]!r}')
  for qid, hits in run.items():
    ranked = [docid for docid, _ in hits]
    if len(set(ranked)) != len(ranked):
      repeated = next(d for i, d in enumerate(ranked) if d in ranked[:i])
      raise ValueError(f'the run ranks docid {repeated!r} twice for query {qid!r}')
    if docids is not None:
      missing = [docid for docid in ranked if docid not in docids]
      if missing:
        raise ValueError(f'the run names docid {missing[0]!r} (query {qid!r}), which is not in '
                         f'the corpus ({len(missing)} unknown docids in that query)')


def per_query(qrels: Iterable[records.Qrel], run: Run,
              lang_of: Mapping[str, str]) -> dict[str, dict[str, float]]:
  """{metric name: {query id: value}} over the counted queries (see the module docstring).

  `qrels` may be a streaming reader (`qrels.read_qrels`): its bad-record errors surface here.
  """
  validate_run(run, lang_of)
  judged: dict[str, dict[str, int]] = {}
  for qrel in qrels:
    if qrel.query_id in lang_of:
      judged.setdefault(qrel.query_id, {})[qrel.docid] = qrel.relevance
  counted = [qid for qid in lang_of if any(rel > 0 for rel in judged.get(qid, {}).values())]
  ranked = {qid: {docid: float(len(run[qid]) - rank) for rank, (docid, _) in enumerate(run[qid])}
            for qid in counted if qid in run}
  found = {(str(m.measure), m.query_id): m.value
           for m in ir_measures.iter_calc(list(MEASURES.values()),
                                          {qid: judged[qid] for qid in counted}, ranked)}
  return {name: {qid: float(found.get((name, qid), 0.0)) for qid in counted}
          for name in MEASURES}


def aggregate(values: Mapping[str, Mapping[str, float]], lang_of: Mapping[str, str]) -> dict:
  """{'counted': {lang: n}, 'R@100': {lang: mean, ..., 'macro': mean}, ...} from `per_query`."""
  by_lang: dict[str, list[str]] = {}
  for qid in next(iter(values.values()), {}):
    by_lang.setdefault(lang_of[qid], []).append(qid)
  codes = sorted(languages.validate(list(by_lang)), key=list(languages.LANGUAGES).index)
  out = {'counted': {lang: len(by_lang[lang]) for lang in codes}}
  for name, per_qid in values.items():
    means = {lang: float(np.mean([per_qid[qid] for qid in by_lang[lang]])) for lang in codes}
    means['macro'] = float(np.mean(list(means.values()))) if means else 0.0
    out[name] = means
  return out


def evaluate(qrels: Iterable[records.Qrel], run: Run, lang_of: Mapping[str, str]) -> dict:
  """`aggregate(per_query(...))`: the IR metrics per language and macro."""
  return aggregate(per_query(qrels, run, lang_of), lang_of)
