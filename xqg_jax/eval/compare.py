"""Paired comparison of two systems' evaluations on the same queries, metric by metric."""

import ml_collections

from xqg_jax.eval import significance
from xqg_jax.eval import xor_retrieve


def systems(config: ml_collections.ConfigDict, a: dict, b: dict) -> dict:
  """{metric: significance.compare(...)} for R@kt and, when judged, the IR metrics.

  `a` and `b` are `evaluate_stage.load` results of the same split (B is tested against A).
  """
  if set(a['outcomes']) != set(b['outcomes']):
    raise ValueError(f'systems {a.get("system")!r} and {b.get("system")!r} were evaluated on '
                     'different queries')
  lang_of = xor_retrieve.languages_of(a['outcomes'])
  out = {}
  for k in config.eval.kilo_tokens:
    metric = xor_retrieve.metric_name(k)
    out[metric] = significance.compare(xor_retrieve.scores(a['outcomes'], metric),
                                       xor_retrieve.scores(b['outcomes'], metric), lang_of,
                                       metric, config.eval, seed=config.seed)
  if a.get('ir_per_query') and b.get('ir_per_query'):
    ir_a, ir_b = a['ir_per_query'], b['ir_per_query']
    for metric, values in ir_a['values'].items():
      out[metric] = significance.compare(values, ir_b['values'][metric], ir_a['languages'],
                                         metric, config.eval, seed=config.seed)
  return out
