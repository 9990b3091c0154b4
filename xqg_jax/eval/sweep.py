"""Stage `sweep`: R@kt against the number of generated questions per language, on one split.

For each question source, the dev-chosen fusion and alpha (`select_stage`) are kept and n runs
over `eval.sweep_num_queries` (the paper: gains grow with n, significant from 4). Every n is
ranked by exact search (`fusion_grid`) and tested against xDR with the paired tests and
bootstrap intervals of `significance.compare`. Writes `workdir/sweep/{split}/sweep.json`:
  {'num_queries': [{'source', 'fusion', 'alpha', 'num_queries', 'R@2kt': {lang.., 'macro'},
                    ..., 'comparison': {metric: macro entry of the test against xDR}}]}
"""

import dataclasses
import json

from etils import epath
import ml_collections

from xqg_jax.eval import fusion_grid
from xqg_jax.eval import select_stage
from xqg_jax.eval import significance
from xqg_jax.eval import xor_retrieve
from xqg_jax.io import atomic
from xqg_jax.io import stage_dir
from xqg_jax.lexical import word_tokenizer

SWEEP_JSON = 'sweep.json'


def run(config: ml_collections.ConfigDict, workdir, *, corpus_dir, question_dirs: dict,
        selection: dict, query_embeddings, data_dir, split: str, inputs: dict) -> dict:
  """The n-curve of every source on `split`; returns the sweep dict."""
  directory = epath.Path(workdir) / 'sweep' / split
  settings = [dataclasses.replace(select_stage.setting_of(selection['chosen'][source]),
                                  num_queries=int(n))
              for source in sorted(question_dirs) for n in config.eval.sweep_num_queries]
  stage_config = {'settings': [dataclasses.asdict(s) for s in settings],
                  'eval': config.eval.to_dict(), 'hits': config.index.hits,
                  'augment': config.augment.to_dict(), 'seed': config.seed,
                  'word_tokenizer': word_tokenizer.budget_tokenizer()}

  def produce(d):
    results, outcomes = select_stage.evaluate_settings(
        config, corpus_dir=corpus_dir, question_dirs=question_dirs, settings=settings,
        query_embeddings=query_embeddings, data_dir=data_dir, split=split)
    base = outcomes[fusion_grid.BASELINE]
    lang_of = xor_retrieve.languages_of(base)
    rows = []
    for s in settings:
      comparison = {}
      for k in config.eval.kilo_tokens:
        metric = xor_retrieve.metric_name(k)
        comparison[metric] = significance.compare(
            xor_retrieve.scores(base, metric), xor_retrieve.scores(outcomes[s.name], metric),
            lang_of, metric, config.eval, seed=config.seed)['macro']
      rows.append({**dataclasses.asdict(s),
                   **{k: v for k, v in results[s.name].items() if k.startswith('R@')},
                   'comparison': comparison})
    sweep = {'split': split, 'num_queries': rows,
             'word_tokenizer': word_tokenizer.budget_tokenizer(),
             'baseline': {k: v for k, v in results[fusion_grid.BASELINE].items()
                          if k.startswith('R@')}}
    atomic.write_text(d / SWEEP_JSON, json.dumps(sweep, indent=1) + '\n')
    return [SWEEP_JSON], {}

  stage_dir.run(directory, stage=f'sweep_{split}', config=stage_config, inputs=inputs,
            produce=produce)
  return json.loads((directory / SWEEP_JSON).read_text())
