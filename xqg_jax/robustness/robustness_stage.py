"""Stages `attack` and `robustness`: attacked query sets, and their evaluation on both systems.

  workdir/attacks/{attack}/{split}.jsonl      the attacked set (`attack.write_attacked`)
  workdir/robustness/{split}/{attack}.json    per-query entries, aggregates, drop comparison
The clean side of every comparison is the evaluation stage's exact-search ranking of the same
queries (`workdir/eval/{system}/{split}/exact/run.trec`); the attacked queries are searched
exactly too, each language in its own corpus of the system, so clean and attacked differ only
in the text.
"""

import json
from typing import Callable, Mapping

from etils import epath
import ml_collections

from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.data.formats import trec_run
from xqg_jax.eval import evaluate_stage
from xqg_jax.eval import systems as systems_lib
from xqg_jax.eval import xor_retrieve
from xqg_jax.io import atomic
from xqg_jax.io import stage_dir
from xqg_jax.lexical import word_tokenizer
from xqg_jax.robustness import attacked_retrieval as evaluate_lib
from xqg_jax.robustness import attacked_set as attack_lib


def per_language_subset(queries, per_language: int) -> list:
  """The first `per_language` queries of each language, in file order (all when 0)."""
  if per_language < 0:
    raise ValueError(f'robustness.queries_per_language must be >= 0, got {per_language}')
  if not per_language:
    return list(queries)
  seen: dict[str, int] = {}
  out = []
  for query in queries:
    seen[query.lang] = seen.get(query.lang, 0) + 1
    if seen[query.lang] <= per_language:
      out.append(query)
  return out


def attacked_set(config, workdir, *, name: str, build: Callable[[], attack_lib.Attack],
                 queries, split: str, inputs: dict) -> epath.Path:
  """Runs attack `name` (made by `build`) on `queries` once; returns the JSONL path."""
  directory = epath.Path(workdir) / 'attacks' / name
  file_name = f'{split}.jsonl'

  def produce(d):
    rows = build()(queries)
    if [r.id for r in rows] != [q.id for q in queries]:
      raise ValueError(f'attack {name!r} returned {len(rows)} rows out of order or incomplete '
                       f'for {len(queries)} queries')
    attack_lib.write_attacked(d / file_name, rows)
    return [file_name], {'attacked': sum(r.attacked is not None for r in rows),
                         'queries': len(rows)}

  stage_dir.run(directory, stage=f'attack_{name}_{split}',
            config={'attack': config.robustness[name].to_dict(), 'split': split,
                    'queries_per_language': config.robustness.queries_per_language},
            inputs=inputs, produce=produce)
  return directory / file_name


def gold_passages(data_dir, split: str) -> dict[str, set[str]]:
  """{query id: positive docids} from the split's qrels; {} without qrels (XOR-TyDi has none:
  robustness is then measured by R@kt alone, and success rates are None)."""
  gold: dict[str, set[str]] = {}
  path = epath.Path(data_dir) / f'qrels/{split}.txt'
  if not path.exists():
    return gold
  for qrel in qrels_format.read_qrels(path):
    if qrel.relevance > 0:
      gold.setdefault(qrel.query_id, set()).add(qrel.docid)
  return gold


def evaluate_attack(config: ml_collections.ConfigDict, workdir, *, name: str, split: str,
                    attacked_path, systems: Mapping[str, systems_lib.System], embed: Callable,
                    data_dir, inputs: dict) -> dict:
  """Evaluates attacked set `name` on every system; writes and returns the results.

  Args:
    config: the run config (`robustness.success_k`, `eval`, `index.hits`).
    workdir: the work directory (clean runs under `eval/`).
    name: the attack's name.
    split: the query split.
    attacked_path: the attacked set.
    systems: {name: system}, xDR first, then xDR+xQG.
    embed: texts -> [n, H] query embeddings (the trained query tower).
    data_dir: the data directory (queries, corpus, qrels).
    inputs: digests of what this depends on.
  """
  path = epath.Path(workdir) / 'robustness' / split
  file_name = f'{name}.json'
  kilo = tuple(config.eval.kilo_tokens)
  metrics = [xor_retrieve.metric_name(k) for k in kilo]

  def produce(d):
    queries, _ = evaluate_stage.read_inputs(config, data_dir, split)
    rows = list(attack_lib.read_attacked(attacked_path))
    attacked_ids = {r.id for r in rows}
    queries = [q for q in queries if q.id in attacked_ids]  # the attack's subset of the split
    gold = {qid: g for qid, g in gold_passages(data_dir, split).items() if qid in attacked_ids}
    query_emb = embed([r.text for r in rows])
    exact = evaluate_stage.exact_config(config)
    rankings = {}
    for system, definition in systems.items():
      clean = evaluate_stage.ranking_of(trec_run.read_run(
          epath.Path(workdir) / 'eval' / system / split / evaluate_stage.EXACT / 'run.trec'))
      after = evaluate_stage.ranking_of(evaluate_stage.search(
          exact, definition, dict(definition.corpora), [r.id for r in rows], query_emb,
          [r.lang for r in rows]))
      rankings[system] = ({q: clean[q] for q in attacked_ids if q in clean}, after)
    texts = evaluate_stage.passage_texts(config, data_dir,
                                         [r for pair in rankings.values() for r in pair])
    entries, results = {}, {}
    for system, (clean, after) in rankings.items():
      k = config.robustness.success_k
      entries[system] = evaluate_lib.per_query(
          rows, evaluate_lib.outcomes_of(clean, queries, texts, kilo),
          evaluate_lib.outcomes_of(after, queries, texts, kilo),
          evaluate_lib.gold_in_top(clean, gold, k), evaluate_lib.gold_in_top(after, gold, k))
      results[system] = evaluate_lib.aggregate(entries[system], metrics)
    a, b = list(systems)
    out = {'attack': name, 'split': split, 'success_k': config.robustness.success_k,
           'word_tokenizer': word_tokenizer.budget_tokenizer(),
           'settings': config.robustness[name].to_dict(), 'results': results,
           'drop_comparison': {m: evaluate_lib.compare_drops(entries[a], entries[b], m,
                                                             config.eval) for m in metrics},
           'per_query': entries}
    atomic.write_text(d / file_name, json.dumps(out, indent=1, ensure_ascii=False) + '\n')
    return [file_name], {}

  stage_dir.run(path / name, stage=f'robustness_{name}_{split}',
            config={'robustness': config.robustness.to_dict(), 'eval': config.eval.to_dict(),
                    'hits': config.index.hits,
                    'word_tokenizer': word_tokenizer.budget_tokenizer(),
                    'systems': {k: v.to_dict() for k, v in systems.items()}},
            inputs=inputs, produce=produce)
  return json.loads((path / name / file_name).read_text())
