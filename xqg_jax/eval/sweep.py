"""Sweeps of the augmentation: R@kt over an alpha grid and over queries per language.

Each setting is fused (`augment/fusion.py`, cached under `workdir/fused/{name}`) and searched
exactly (the reference, so ANN error does not blur the curve). The alpha grid keeps
`augment.num_queries`; the queries grid keeps `augment.alpha`. Alpha 0 is xDR alone.
Writes `workdir/sweep/{split}/sweep.json`: {'alpha': [row...], 'num_queries': [row...]}, a row
being {'alpha', 'num_queries', 'R@2kt': {lang: .., 'macro': ..}, 'R@5kt': {...}}.
"""

import dataclasses
import json

from etils import epath
import ml_collections

from xqg_jax.augment import fusion
from xqg_jax.eval import evaluate_stage
from xqg_jax.io import atomic
from xqg_jax.io import stage

SWEEP_JSON = 'sweep.json'


def settings(config: ml_collections.ConfigDict) -> dict[str, list[fusion.FusionConfig]]:
  """The fusion settings of each grid."""
  base = fusion.FusionConfig.from_config(config.augment)
  return {
      'alpha': [dataclasses.replace(base, alpha=float(a)) for a in config.eval.sweep_alphas],
      'num_queries': [dataclasses.replace(base, num_queries=int(n))
                      for n in config.eval.sweep_num_queries],
  }


def run(config: ml_collections.ConfigDict, workdir, *, corpus_dir, questions_dir,
        query_embeddings, data_dir, split: str) -> dict:
  """Evaluates every setting of both grids on `split`; returns the sweep dict."""
  workdir = epath.Path(workdir)
  inputs = {'corpus': stage.digest(corpus_dir), 'generated': stage.digest(questions_dir),
            'queries': stage.digest(query_embeddings)}
  grids = settings(config)
  directory = workdir / 'sweep' / split
  search_config = evaluate_stage.exact_config(config)

  def produce(d):
    queries, texts, _ = evaluate_stage.read_inputs(config, data_dir, split)
    rows = {}
    for grid, fusions in grids.items():
      rows[grid] = []
      for f in fusions:
        fused = fusion.fuse_directory(workdir / 'fused' / f.name, corpus_dir=corpus_dir,
                                      questions_dir=questions_dir, fusion=f,
                                      inputs={k: inputs[k] for k in ('corpus', 'generated')})
        found = evaluate_stage.search(search_config, fused, fused, query_embeddings)
        results, _, _ = evaluate_stage.score(search_config, dict(zip(found['qids'],
                                                                     found['docids'])),
                                             queries, texts, None)
        rows[grid].append({'alpha': f.alpha, 'num_queries': f.num_queries,
                           **{k: v for k, v in results.items() if k.startswith('R@')}})
    atomic.write_text(d / SWEEP_JSON, json.dumps(rows, indent=1) + '\n')
    return [SWEEP_JSON], {}

  stage.run(directory, stage=f'sweep_{split}',
            config={'grids': {g: [dataclasses.asdict(f) for f in fs] for g, fs in grids.items()},
                    'eval': config.eval.to_dict(), 'hits': config.index.hits},
            inputs=inputs, produce=produce)
  return json.loads((directory / SWEEP_JSON).read_text())
