"""Stage `select`: alpha, fusion and n chosen on dev, once, for every question source.

Every setting of the grid (question source x `augment.fusions` x `eval.sweep_alphas` x
`eval.sweep_num_queries`) is ranked by exact search over the dev queries (`fusion_grid`) and
scored with R@kt. Chosen per source, and per (source, fusion): the highest macro R@2kt; ties go
to the higher macro R@5kt, then the fusion listed first, the smaller alpha, the smaller n. The
test queries are never read here. With `augment.select=False` the configured
`augment.fusion/alpha/num_queries` are taken as chosen (no dev split needed). Writes
`workdir/select/selection.json`:
  {'split', 'baseline': R@kt of xDR, 'rows': [setting + R@kt per language and macro],
   'chosen': {source: setting, 'source/fusion': setting}}
"""

import dataclasses
import json

from etils import epath
import ml_collections

from xqg_jax.data.formats import embedding_shards
from xqg_jax.eval import evaluate_stage
from xqg_jax.eval import fusion_grid
from xqg_jax.eval import xor_retrieve
from xqg_jax.io import atomic
from xqg_jax.io import stage_dir
from xqg_jax.lexical import word_tokenizer

SELECTION_JSON = 'selection.json'
SPLIT = 'dev'


def grid(config: ml_collections.ConfigDict, sources) -> list[fusion_grid.Setting]:
  """Every setting the selection compares (alpha 0 is xDR itself, the baseline)."""
  return [fusion_grid.Setting(source, fusion, float(alpha), int(n))
          for source in sources for fusion in config.augment.fusions
          for alpha in config.eval.sweep_alphas if alpha > 0
          for n in config.eval.sweep_num_queries]


def configured(config: ml_collections.ConfigDict, source: str,
               fusion: str | None = None) -> fusion_grid.Setting:
  """The setting `augment` names (for `fusion`, or `augment.fusion`)."""
  a = config.augment
  return fusion_grid.Setting(source, fusion or a.fusion, float(a.alpha), int(a.num_queries))


def evaluate_settings(config: ml_collections.ConfigDict, *, corpus_dir, question_dirs,
                      settings, query_embeddings, data_dir,
                      split: str) -> tuple[dict[str, dict], dict[str, dict]]:
  """({setting name or BASELINE: R@kt results}, {same: per-query outcomes}) on `split`."""
  queries, _ = evaluate_stage.read_inputs(config, data_dir, split)
  query_emb, qids = embedding_shards.load(query_embeddings)
  lang_of = {q.id: q.lang for q in queries}
  found = fusion_grid.rankings(
      corpus_dir=corpus_dir, question_dirs=question_dirs, settings=settings,
      query_emb=query_emb, query_langs=[lang_of[q] for q in qids],
      augment_languages=config.augment.languages, reduce=config.augment.reduce,
      k=config.index.hits)
  kilo = tuple(config.eval.kilo_tokens)
  counted = [q for q in queries if xor_retrieve.span_answers(q.answers)]
  rankings = {name: dict(zip(qids, docids)) for name, docids in found.items()}
  texts = evaluate_stage.passage_texts(config, data_dir, rankings.values())
  results, outcomes = {}, {}
  for name, ranking in rankings.items():
    outcomes[name] = xor_retrieve.query_outcomes(
        {q.id: [texts[d] for d in ranking[q.id]] for q in counted}, counted, kilo)
    results[name] = xor_retrieve.aggregate(outcomes[name], kilo)
  return results, outcomes


def _rank_key(config, row: dict):
  primary, *rest = [xor_retrieve.metric_name(k) for k in config.eval.kilo_tokens]
  return (-row[primary]['macro'], *(-row[m]['macro'] for m in rest),
          list(config.augment.fusions).index(row['fusion']), row['alpha'], row['num_queries'])


def choose(config: ml_collections.ConfigDict, rows: list[dict], sources) -> dict[str, dict]:
  """{source: best row, 'source/fusion': best row of that fusion} (see the module docstring)."""
  chosen = {}
  for source in sources:
    mine = sorted((r for r in rows if r['source'] == source), key=lambda r: _rank_key(config, r))
    if not mine:
      raise ValueError(f'the selection grid has no setting for source {source!r}')
    chosen[source] = mine[0]
    for fusion in config.augment.fusions:
      chosen[f'{source}/{fusion}'] = next(r for r in mine if r['fusion'] == fusion)
  return chosen


def run(config: ml_collections.ConfigDict, workdir, *, corpus_dir, question_dirs: dict,
        query_embeddings: dict, data_dir, inputs: dict) -> dict:
  """Chooses the settings (see the module docstring); returns the selection."""
  directory = epath.Path(workdir) / 'select'
  sources = sorted(question_dirs)
  stage_config = {'augment': config.augment.to_dict(), 'eval': config.eval.to_dict(),
                  'hits': config.index.hits, 'sources': sources,
                  'word_tokenizer': word_tokenizer.budget_tokenizer()}

  def produce(d):
    if not config.augment.select:
      rows = [dataclasses.asdict(configured(config, s, f))
              for s in sources for f in config.augment.fusions]
      chosen = {s: dataclasses.asdict(configured(config, s)) for s in sources}
      chosen.update((f'{r["source"]}/{r["fusion"]}', r) for r in rows)
      selection = {'split': None, 'baseline': None, 'rows': [], 'chosen': chosen}
    else:
      if SPLIT not in query_embeddings:
        raise ValueError('augment.select chooses settings on dev queries, and there are none; '
                         'set augment.select=False and give augment.fusion/alpha/num_queries')
      settings = grid(config, sources)
      results, _ = evaluate_settings(
          config, corpus_dir=corpus_dir, question_dirs=question_dirs, settings=settings,
          query_embeddings=query_embeddings[SPLIT], data_dir=data_dir, split=SPLIT)
      rows = [{**dataclasses.asdict(s), **_metrics(results[s.name])} for s in settings]
      selection = {'split': SPLIT, 'baseline': _metrics(results[fusion_grid.BASELINE]),
                   'word_tokenizer': word_tokenizer.budget_tokenizer(),
                   'rows': rows, 'chosen': choose(config, rows, sources)}
    atomic.write_text(d / SELECTION_JSON, json.dumps(selection, indent=1) + '\n')
    return [SELECTION_JSON], {'chosen': {k: _name(v) for k, v in selection['chosen'].items()}}

  stage_dir.run(directory, stage='select', config=stage_config, inputs=inputs, produce=produce)
  return json.loads((directory / SELECTION_JSON).read_text())


def setting_of(row: dict) -> fusion_grid.Setting:
  """The setting of a selection row."""
  return fusion_grid.Setting(row['source'], row['fusion'], row['alpha'], row['num_queries'])


def _metrics(results: dict) -> dict:
  return {k: v for k, v in results.items() if k.startswith('R@')}


def _name(row: dict) -> str:
  return setting_of(row).name
