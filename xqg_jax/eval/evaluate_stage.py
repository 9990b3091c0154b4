"""Search + evaluation of one system (an embedding directory) on one query split.

Writes `workdir/eval/{system}/{split}/`:
  run.trec          the top `index.hits` passages per query (TREC run, tag = system)
  xor_run.json      the XOR-Retrieve submission (`id, lang, ctxs` with the passage texts)
  outcomes.json     per counted query: language and 0/1 hit per R@kt budget
  ir_per_query.json Recall@100, RR@10, nDCG@10 per judged query and its language (with qrels)
  results.json      R@kt and IR metrics per language and macro; ANN recall vs exact search
The index (`workdir/index/{system}`, ScaNN per corpus shard, or none for exact search) is
built first. With ScaNN, the exact top-k is computed too and ScaNN's recall@k against it is
reported in every evaluation.
"""

import json

from etils import epath
import ml_collections

from xqg_jax.data import errors
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.data.formats import trec_run
from xqg_jax.data.formats import xor_run
from xqg_jax.encoders import encode
from xqg_jax.eval import ir_metrics
from xqg_jax.eval import xor_retrieve
from xqg_jax.index import index_stage
from xqg_jax.io import atomic
from xqg_jax.io import stage

RESULTS_JSON = 'results.json'
OUTCOMES_JSON = 'outcomes.json'
IR_PER_QUERY_JSON = 'ir_per_query.json'


def exact_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` with `index.kind = 'exact'` (the reference search)."""
  out = ml_collections.ConfigDict(config.to_dict())
  out.index.kind = 'exact'
  return out


def read_inputs(config, data_dir, split: str):
  """(queries of `split`, {docid: text}, qrels path or None) of a data directory."""
  data_dir = epath.Path(data_dir)
  policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
  queries = list(queries_format.read_queries(data_dir / f'queries/{split}.jsonl', policy))
  texts = {p.id: p.text for p in corpus_format.read_corpus(data_dir / 'corpus.tsv', policy)}
  qrels = data_dir / f'qrels/{split}.txt'
  return queries, texts, (qrels if qrels.exists() else None)


def search(config, index_dir, corpus_embeddings, query_embeddings) -> dict:
  """{'qids', 'scores', 'docids', 'ann_recall'} of every query; exact search alongside ScaNN."""
  query_emb, qids = encode.load(query_embeddings)
  hits = config.index.hits
  scores, docids = index_stage.search(config, index_dir, query_emb, hits)
  out = {'qids': qids, 'scores': scores, 'docids': docids, 'ann_recall': None}
  if config.index.kind != 'exact':
    _, exact_docids = index_stage.search(exact_config(config), corpus_embeddings, query_emb,
                                         hits)
    out['ann_recall'] = {f'recall@{k}': index_stage.ann_recall(docids, exact_docids, k)
                         for k in sorted({10, hits})}
  return out


def score(config, ranking: dict[str, list[str]], queries, texts, qrels_path) -> tuple:
  """(results dict, R@kt outcomes, IR per-query {'languages', 'values'} or None) of a ranking."""
  kilo = tuple(config.eval.kilo_tokens)
  counted = {q.id for q in queries if xor_retrieve.span_answers(q.answers)}
  outcomes = xor_retrieve.query_outcomes(
      {qid: [texts[d] for d in ranking[qid]] for qid in counted}, queries, kilo)
  results = xor_retrieve.aggregate(outcomes, kilo)
  ir = None
  if qrels_path is not None:
    policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
    run = {qid: [(d, 0.0) for d in docids] for qid, docids in ranking.items()}
    ir_metrics.validate_run(run, {q.id for q in queries}, texts)
    lang_of = {q.id: q.lang for q in queries}
    values = ir_metrics.per_query(qrels_format.read_qrels(qrels_path, policy), run, lang_of)
    results['ir'] = ir_metrics.aggregate(values, lang_of)
    judged = next(iter(values.values()), {})
    ir = {'languages': {qid: lang_of[qid] for qid in judged}, 'values': values}
  return results, outcomes, ir


def run(config: ml_collections.ConfigDict, workdir, *, system: str, corpus_embeddings,
        query_embeddings, data_dir, split: str, inputs: dict) -> dict:
  """Builds the index, searches, evaluates; returns the results dict (see module docstring)."""
  workdir = epath.Path(workdir)
  index_dir = index_stage.build(config, workdir / 'index' / system, corpus_embeddings,
                                inputs={'corpus': inputs['corpus']})
  directory = workdir / 'eval' / system / split
  stage_config = {'index': config.index.to_dict(), 'eval': config.eval.to_dict(),
                  'split': split}

  def produce(d):
    queries, texts, qrels_path = read_inputs(config, data_dir, split)
    found = search(config, index_dir, corpus_embeddings, query_embeddings)
    run = {qid: trec_run.ranked(list(zip(docids, row.tolist())))
           for qid, docids, row in zip(found['qids'], found['docids'], found['scores'])}
    ranking = {qid: [docid for docid, _ in hits] for qid, hits in run.items()}
    results, outcomes, ir = score(config, ranking, queries, texts, qrels_path)
    results.update(system=system, split=split, index_kind=config.index.kind,
                   ann_recall=found['ann_recall'])
    trec_run.write_run(d / 'run.trec', run, tag=system)
    xor_run.write_xor_run(d / 'xor_run.json', xor_run.from_ranking(ranking, queries, texts))
    atomic.write_text(d / OUTCOMES_JSON, json.dumps(outcomes, sort_keys=True) + '\n')
    outputs = ['run.trec', 'xor_run.json', OUTCOMES_JSON, RESULTS_JSON]
    if ir is not None:
      atomic.write_text(d / IR_PER_QUERY_JSON, json.dumps(ir, sort_keys=True) + '\n')
      outputs.append(IR_PER_QUERY_JSON)
    atomic.write_text(d / RESULTS_JSON, json.dumps(results, indent=1) + '\n')
    return outputs, {}

  stage.run(directory, stage=f'evaluate_{system}_{split}', config=stage_config, inputs=inputs,
            produce=produce)
  return load(directory)


def load(directory) -> dict:
  """The results of a finished evaluation, with its per-query outcomes and IR values."""
  directory = epath.Path(directory)
  out = json.loads((directory / RESULTS_JSON).read_text())
  out['outcomes'] = json.loads((directory / OUTCOMES_JSON).read_text())
  ir_path = directory / IR_PER_QUERY_JSON
  out['ir_per_query'] = json.loads(ir_path.read_text()) if ir_path.exists() else None
  return out
