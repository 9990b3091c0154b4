"""Exact dense retrieval + XOR-Retrieve evaluation of one query split.

Writes `workdir/eval/{name}/{split}/run.trec` and `results.json` (R@2kt, R@5kt per
language and macro, with the counted queries).
"""

import json

from etils import epath
import ml_collections

from xqg_jax.data import errors
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.data.formats import trec_run
from xqg_jax.encoders import encode
from xqg_jax.eval import xor_retrieve
from xqg_jax.index import exact
from xqg_jax.io import atomic
from xqg_jax.io import stage

HITS = 100


def run(config: ml_collections.ConfigDict, workdir, *, name: str, corpus_embeddings,
        query_embeddings, data_dir, split: str, inputs: dict) -> dict:
  """Searches, evaluates and returns the results dict."""
  directory = epath.Path(workdir) / 'eval' / name / split
  results_name = 'results.json'

  def produce(d):
    corpus_emb, docids = encode.load(corpus_embeddings)
    query_emb, qids = encode.load(query_embeddings)
    scores, index = exact.search(query_emb, corpus_emb, HITS)
    ranking = {qid: [docids[i] for i in row] for qid, row in zip(qids, index)}
    policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
    queries = list(queries_format.read_queries(epath.Path(data_dir) / f'queries/{split}.jsonl',
                                               policy))
    texts = {p.id: p.text for p in corpus_format.read_corpus(
        epath.Path(data_dir) / 'corpus.tsv', policy)}
    results = xor_retrieve.evaluate(ranking, queries, texts)
    trec_run.write_run(d / 'run.trec',
                       {qid: list(zip(ranking[qid], row.tolist()))
                        for qid, row in zip(qids, scores)}, tag=name)
    atomic.write_text(d / results_name, json.dumps(results, indent=1) + '\n')
    return ['run.trec', results_name], {}

  stage.run(directory, stage=f'evaluate_{name}_{split}', config={'hits': HITS}, inputs=inputs,
            produce=produce)
  return json.loads((directory / results_name).read_text())
