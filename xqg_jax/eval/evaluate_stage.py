"""Search + evaluation of one retrieval system on one query split, exact and with the index.

A system (`systems.System`) routes each query language to passage embeddings. Exact search is
always run: it is the reference, and systems are compared on it (no ANN error in a delta).
With `index.kind='scann'` each of the system's corpora also gets a ScaNN index
(`workdir/index/{system}/{corpus key}`), searched the same way; its recall against exact search
and the index size and build time are reported beside. Writes
`workdir/eval/{system}/{split}/{search}/` for search 'exact' and 'scann':
  run.trec          the top `index.hits` passages per query (TREC run, tag = system)
  xor_run.json      exact search only: the XOR-Retrieve submission (`id, lang, ctxs` with the
                    texts of the passages that fill the largest token budget)
  outcomes.json     per counted query: language and 0/1 hit per R@kt budget
  ir_per_query.json Recall@100, RR@10, nDCG@10 per judged query and its language (with qrels)
  results.json      R@kt and IR metrics per language and macro (ScaNN: + ANN recall, index)

A split whose queries have no answers (a question-only file, as XOR-Retrieve's test set is
released) is searched and its run and submission written, but not scored: its results say
`scored: false` and why.
"""

import json
from typing import Iterable, Mapping, Sequence

from etils import epath
import ml_collections
import numpy as np

from xqg_jax.data import errors
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import embedding_shards
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.data.formats import trec_run
from xqg_jax.data.formats import xor_run
from xqg_jax.eval import ir_metrics
from xqg_jax.eval import systems as systems_lib
from xqg_jax.eval import xor_retrieve
from xqg_jax.index import index_stage
from xqg_jax.io import atomic
from xqg_jax.io import manifest as manifest_lib
from xqg_jax.io import stage_dir
from xqg_jax.lexical import word_tokenizer

RESULTS_JSON = 'results.json'
OUTCOMES_JSON = 'outcomes.json'
IR_PER_QUERY_JSON = 'ir_per_query.json'
EXACT, SCANN = 'exact', 'scann'
INDEX_BUILD_SECONDS = 'index_build_seconds'  # manifest extra of a ScaNN evaluation
UNSCORED_REASON = ('no query of this split has answers (a question-only file, as XOR-Retrieve '
                   'releases its test set): the TREC run and the XOR-Retrieve submission '
                   '(exact/xor_run.json) are written for the official leaderboard, and no score '
                   'is reported')


def labeled(queries) -> bool:
  """Whether a split can be scored: some query has answers."""
  return any(q.answers for q in queries)


def is_scored(results: dict) -> bool:
  """Whether one search's results (`load(...)['exact']`) hold scores."""
  return results.get('scored', True)


def exact_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` with `index.kind = 'exact'` (the reference search)."""
  out = ml_collections.ConfigDict(config.to_dict())
  out.index.kind = 'exact'
  return out


def read_inputs(config, data_dir, split: str) -> tuple[list, epath.Path | None]:
  """(queries of `split`, its qrels path or None) of a data directory."""
  data_dir = epath.Path(data_dir)
  policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
  queries = list(queries_format.read_queries(data_dir / f'queries/{split}.jsonl', policy))
  qrels = data_dir / f'qrels/{split}.txt'
  return queries, (qrels if qrels.exists() else None)


def passage_texts(config, data_dir, rankings: Iterable[Mapping[str, Sequence[str]]],
                  qrels_path=None) -> dict[str, str]:
  """{docid: text} of the passages that `rankings` ({query id: docids}) retrieved and that
  the qrels judge, from one streamed pass over the corpus: memory is bounded by the passages
  asked for, not by the corpus. A judged docid the corpus lacks is left out (scoring names
  it); a retrieved one is an error (embeddings of another corpus)."""
  path = epath.Path(data_dir) / 'corpus.tsv'
  retrieved = {d for ranking in rankings for docids in ranking.values() for d in docids}
  asked = set(retrieved)
  if qrels_path is not None:  # The corpus check of the judgements comes later, in `score`.
    asked.update(q.docid for q in qrels_format.read_qrels(
        qrels_path, errors.BadRecordPolicy.from_name('skip')))
  policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
  texts = {p.id: p.text for p in corpus_format.read_corpus(path, policy) if p.id in asked}
  missing = retrieved - texts.keys()
  if missing:
    raise ValueError(f'{path}: {len(missing)} retrieved passages are not in the corpus, e.g. '
                     f'{min(missing)!r} (were the embeddings made from another corpus?)')
  return texts


def build_indexes(config: ml_collections.ConfigDict, workdir,
                  system: systems_lib.System) -> tuple[dict[str, epath.Path], dict]:
  """ScaNN indexes of every corpus of `system` ({key: directory}; keys routed to one corpus share
  its index) and their count, rows, bytes and build seconds summed (`index_stage.describe`)."""
  dirs, built, totals = {}, {}, {'indexes': 0, 'rows': 0, 'bytes': 0, 'build_seconds': 0.0}
  for key, corpus_dir in sorted(system.corpora.items()):
    if corpus_dir in built:
      dirs[key] = built[corpus_dir]
      continue
    name = 'all' if key == systems_lib.ANY_LANGUAGE else key
    dirs[key] = built[corpus_dir] = index_stage.build(
        config, epath.Path(workdir) / 'index' / system.name / name, corpus_dir,
        inputs={'corpus': stage_dir.digest(corpus_dir)})
    for field, value in index_stage.describe(dirs[key]).items():
      totals[field] += value
    totals['build_seconds'] += index_stage.build_seconds(dirs[key])
    totals['indexes'] += 1
  return dirs, totals


def search(config: ml_collections.ConfigDict, system: systems_lib.System,
           directories: dict[str, str], qids, query_emb: np.ndarray,
           query_langs) -> dict[str, list[tuple[str, float]]]:
  """{query id: its top `index.hits` (docid, score), ranked as trec_eval does}, each language
  searching its own directory (`config.index.kind` says whether `directories` are indexes or
  embedding directories)."""
  scores, docids = systems_lib.routed_search(
      system, query_emb, query_langs,
      lambda key, q: index_stage.search(config, directories[key], q, config.index.hits))
  return {qid: trec_run.ranked(list(zip(ids, row.tolist())))
          for qid, ids, row in zip(qids, docids, scores)}


def score(config, ranking: dict[str, list[str]], queries, texts, qrels_path) -> tuple:
  """(results dict, R@kt outcomes, IR per-query {'languages', 'values'} or None) of a ranking;
  for an unlabeled split `({'scored': False, 'reason': ...}, {}, None)`."""
  if not labeled(queries):
    return {'scored': False, 'reason': UNSCORED_REASON}, {}, None
  kilo = tuple(config.eval.kilo_tokens)
  counted = {q.id for q in queries if xor_retrieve.span_answers(q.answers)}
  outcomes = xor_retrieve.query_outcomes(
      {qid: [texts[d] for d in ranking[qid]] for qid in counted}, queries, kilo)
  results = {**xor_retrieve.aggregate(outcomes, kilo),
             'word_tokenizer': word_tokenizer.budget_tokenizer()}
  ir = None
  if qrels_path is not None:
    policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
    run = {qid: [(d, 0.0) for d in docids] for qid, docids in ranking.items()}
    ir_metrics.validate_run(run, {q.id for q in queries}, texts)
    lang_of = {q.id: q.lang for q in queries}
    values = ir_metrics.per_query(qrels_format.read_qrels(qrels_path, policy, docids=texts),
                                  run, lang_of)
    results['ir'] = ir_metrics.aggregate(values, lang_of)
    if policy.num_skipped:  # on_bad_record=skip: counted, with examples
      results['ir']['skipped_qrels'] = policy.summary()
    judged = next(iter(values.values()), {})
    ir = {'languages': {qid: lang_of[qid] for qid in judged}, 'values': values}
  return results, outcomes, ir


def ranking_of(run: dict[str, list[tuple[str, float]]]) -> dict[str, list[str]]:
  """{query id: ranked docids} of a run."""
  return {qid: [docid for docid, _ in hits] for qid, hits in run.items()}


def write_ranking(config, directory, *, system: str, run: dict[str, list[tuple[str, float]]],
                  queries, texts, qrels_path, extra: dict, submission: bool) -> list[str]:
  """Scores `run` and writes one search's files under `directory` (with `submission`, the
  XOR-Retrieve JSON too); returns their paths relative to its parent (the split directory)."""
  directory = epath.Path(directory)
  ranking = ranking_of(run)
  results, outcomes, ir = score(config, ranking, queries, texts, qrels_path)
  results.update(system=system, **extra)
  trec_run.write_run(directory / 'run.trec', run, tag=system)
  names = ['run.trec', OUTCOMES_JSON, RESULTS_JSON]
  if submission:
    # Each query's passages up to the largest token budget: the official script reads no more.
    budget = 1000 * max(config.eval.kilo_tokens)
    shown = {qid: docids[:xor_retrieve.budget_depth((texts[d] for d in docids), budget)]
             for qid, docids in ranking.items()}
    xor_run.write_xor_run(directory / 'xor_run.json',
                          xor_run.from_ranking(shown, queries, texts))
    names.append('xor_run.json')
  atomic.write_text(directory / OUTCOMES_JSON, json.dumps(outcomes, sort_keys=True) + '\n')
  if ir is not None:
    atomic.write_text(directory / IR_PER_QUERY_JSON, json.dumps(ir, sort_keys=True) + '\n')
    names.append(IR_PER_QUERY_JSON)
  atomic.write_text(directory / RESULTS_JSON, json.dumps(results, indent=1) + '\n')
  return [f'{directory.name}/{name}' for name in names]


def run(config: ml_collections.ConfigDict, workdir, *, system: systems_lib.System,
        query_embeddings, data_dir, split: str, inputs: dict) -> dict:
  """Searches and evaluates `system` on `split`; returns `load` of its directory."""
  workdir = epath.Path(workdir)
  directory = workdir / 'eval' / system.name / split
  kind = config.index.kind
  if kind not in index_stage.KINDS:
    raise ValueError(f'index.kind={kind!r}: expected one of {index_stage.KINDS}')
  stage_config = {'index': config.index.to_dict(), 'eval': config.eval.to_dict(),
                  'split': split, 'system': system.to_dict(),
                  'word_tokenizer': word_tokenizer.budget_tokenizer()}

  def produce(d):
    queries, qrels_path = read_inputs(config, data_dir, split)
    query_emb, qids = embedding_shards.load(query_embeddings)
    lang_of = {q.id: q.lang for q in queries}
    missing = [qid for qid in qids if qid not in lang_of]
    if missing:
      raise ValueError(f'{query_embeddings}: {len(missing)} embedded queries are not in the '
                       f'{split} queries, e.g. {missing[0]!r}')
    langs = [lang_of[qid] for qid in qids]
    exact = search(exact_config(config), system, dict(system.corpora), qids, query_emb, langs)
    if kind == SCANN:
      index_dirs, index = build_indexes(config, workdir, system)
      approx = search(config, system, index_dirs, qids, query_emb, langs)
    rankings = [ranking_of(exact)] + ([ranking_of(approx)] if kind == SCANN else [])
    texts = passage_texts(config, data_dir, rankings, qrels_path)
    common = dict(system=system.name, queries=queries, texts=texts, qrels_path=qrels_path)
    outputs = write_ranking(config, d / EXACT, run=exact, submission=True,
                            extra={'split': split, 'search': EXACT}, **common)
    if kind == SCANN:
      exact_ids, approx_ids = ([ranking[q] for q in qids] for ranking in rankings)
      recall = {f'recall@{k}': index_stage.ann_recall(approx_ids, exact_ids, k)
                for k in sorted({10, config.index.hits})}
      seconds = round(index.pop('build_seconds'), 3)  # a timing: in the manifest, not hashed
      outputs += write_ranking(config, d / SCANN, run=approx, submission=False,
                               extra={'split': split, 'search': SCANN, 'ann_recall': recall,
                                      'index': index}, **common)
      return outputs, {INDEX_BUILD_SECONDS: seconds}
    return outputs, {}

  stage_dir.run(directory, stage=f'evaluate_{system.name}_{split}', config=stage_config,
            inputs=inputs, produce=produce)
  return load(directory)


def load(directory) -> dict:
  """{search: results with their per-query outcomes and IR values} of a finished evaluation
  (ScaNN's `index` also gets the `build_seconds` that the manifest records)."""
  directory = epath.Path(directory)
  out = {}
  for name in (EXACT, SCANN):
    sub = directory / name
    if not (sub / RESULTS_JSON).exists():
      continue
    out[name] = json.loads((sub / RESULTS_JSON).read_text())
    out[name]['outcomes'] = json.loads((sub / OUTCOMES_JSON).read_text())
    ir_path = sub / IR_PER_QUERY_JSON
    out[name]['ir_per_query'] = json.loads(ir_path.read_text()) if ir_path.exists() else None
  if EXACT not in out:
    raise FileNotFoundError(f'{directory}: no exact-search results')
  if SCANN in out:
    extra = manifest_lib.read(directory)['extra']
    out[SCANN]['index']['build_seconds'] = extra[INDEX_BUILD_SECONDS]
  return out
