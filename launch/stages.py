"""The pipeline's stages in order, each a function of (config, workdir, state so far).

A stage's function returns the facts later stages need (directories, paths); each skips its
own work when its manifest proves it done, so running the list again is cheap.
"""

import json
import time
from typing import Any, Callable

from absl import logging
from etils import epath
import ml_collections

from xqg_jax.augment import fusion
from xqg_jax.data import prepare
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import augmented
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.data.synthetic import benchmark
from xqg_jax.data.synthetic import generated_quality
from xqg_jax.encoders import encode
from xqg_jax.encoders import encode_stage
from xqg_jax.encoders import train_xdr
from xqg_jax.eval import compare
from xqg_jax.eval import evaluate_stage
from xqg_jax.eval import report
from xqg_jax.eval import sweep
from xqg_jax.eval import xor_retrieve
from xqg_jax.generation import generate_stage
from xqg_jax.generation import train_xqg
from xqg_jax.io import atomic
from xqg_jax.io import manifest as manifest_lib
from xqg_jax.io import stage as stage_lib
from xqg_jax.robustness import hotflip
from xqg_jax.robustness import registry
from xqg_jax.robustness import report as robustness_report
from xqg_jax.robustness import robustness_stage

State = dict[str, Any]


def _data(config, workdir, state: State) -> State:
  return {'data_dir': str(prepare.data_dir(config, workdir))}


def _tokenizers(config, workdir, state: State) -> State:
  dirs = prepare.tokenizer_dirs(config, epath.Path(state['data_dir']), workdir)
  return {f'{role}_tokenizer': path for role, path in dirs.items()}


def _datasets(config, workdir, state: State) -> State:
  return {'tfds_dir': str(prepare.datasets_dir(config, epath.Path(state['data_dir']),
                                                workdir))}


def _inputs(state: State, *keys: str) -> dict[str, str]:
  """Digests of earlier stages' outputs (a configured path stands for itself)."""
  out = {}
  for key in keys:
    path = epath.Path(state[key])
    manifest_dir = path if (path / 'manifest.json').exists() else path.parent
    out[key] = (stage_lib.digest(manifest_dir) if (manifest_dir / 'manifest.json').exists()
                else str(path))
  return out


def _train_xdr(config, workdir, state: State) -> State:
  out = train_xdr.train(config, workdir, data_dir=state['data_dir'], tfds_dir=state['tfds_dir'],
                        tokenizer_dir=state['encoder_tokenizer'],
                        inputs=_inputs(state, 'data_dir', 'encoder_tokenizer'))
  return {'xdr_dir': str(out)}


def _train_xqg(config, workdir, state: State) -> State:
  out = train_xqg.train(config, workdir, data_dir=state['data_dir'], tfds_dir=state['tfds_dir'],
                        tokenizer_dir=state['generator_tokenizer'],
                        inputs=_inputs(state, 'data_dir', 'generator_tokenizer'))
  return {'xqg_dir': str(out)}


def _generate(config, workdir, state: State) -> State:
  out = generate_stage.run(config, workdir, xqg_dir=state['xqg_dir'],
                           data_dir=state['data_dir'], tfds_dir=state['tfds_dir'],
                           tokenizer_dir=state['generator_tokenizer'],
                           inputs=_inputs(state, 'xqg_dir', 'data_dir'))
  result = {'generated_dir': str(out)}
  if config.data.source == 'synthetic':
    rows = (row for path in sorted(epath.Path(out).glob('generated-*.jsonl'))
            for row in augmented.read_augmented(path, check_duplicates=False))
    quality = generated_quality.compute(benchmark.SyntheticBenchmark(config.synthetic), rows)
    atomic.write_text(epath.Path(workdir) / 'reports' / 'generated_quality.json',
                      json.dumps(quality, indent=1) + '\n')
    result['generated_quality'] = quality
  return result


def _encode(config, workdir, state: State) -> State:
  dirs = encode_stage.run(config, workdir, xdr_dir=state['xdr_dir'], data_dir=state['data_dir'],
                          tfds_dir=state['tfds_dir'], tokenizer_dir=state['encoder_tokenizer'],
                          inputs=_inputs(state, 'xdr_dir', 'data_dir'))
  dirs['generated'] = encode_stage.encode_generated(
      config, workdir, xdr_dir=state['xdr_dir'], generated_dir=state['generated_dir'],
      tokenizer_dir=state['encoder_tokenizer'],
      inputs=_inputs(state, 'xdr_dir', 'generated_dir'))
  return {'embeddings': dirs}


def _fuse(config, workdir, state: State) -> State:
  embeddings = state['embeddings']
  fusion_config = fusion.FusionConfig.from_config(config.augment)
  out = fusion.fuse_directory(
      epath.Path(workdir) / 'fused' / fusion_config.name, corpus_dir=embeddings['corpus'],
      questions_dir=embeddings['generated'], fusion=fusion_config,
      inputs={name: stage_lib.digest(embeddings[name]) for name in ('corpus', 'generated')})
  return {'fused_dir': str(out)}


SYSTEMS = ('xdr', 'xdr_xqg')  # xDR alone, and with the generated questions fused in


def _splits(state: State) -> list[str]:
  return [split for split in ('dev', 'test') if f'queries-{split}' in state['embeddings']]


def _evaluate(config, workdir, state: State) -> State:
  """Index, search and evaluation of both systems on every split, then their comparison."""
  embeddings = state['embeddings']
  corpora = {'xdr': embeddings['corpus'], 'xdr_xqg': state['fused_dir']}
  results, comparisons = {}, {}
  for split in _splits(state):
    for system in SYSTEMS:
      results.setdefault(system, {})[split] = evaluate_stage.run(
          config, workdir, system=system, corpus_embeddings=corpora[system],
          query_embeddings=embeddings[f'queries-{split}'], data_dir=state['data_dir'],
          split=split, inputs={'corpus': stage_lib.digest(corpora[system]),
                               'queries': stage_lib.digest(embeddings[f'queries-{split}'])})
    comparisons[split] = compare.systems(config, results['xdr'][split],
                                         results['xdr_xqg'][split])
  return {'results': results, 'comparisons': comparisons}


def _sweep(config, workdir, state: State) -> State:
  embeddings = state['embeddings']
  return {'sweeps': {split: sweep.run(config, workdir, corpus_dir=embeddings['corpus'],
                                      questions_dir=embeddings['generated'],
                                      query_embeddings=embeddings[f'queries-{split}'],
                                      data_dir=state['data_dir'], split=split)
                     for split in _splits(state)}}


SYSTEM_NAMES = {'xdr': 'xDR', 'xdr_xqg': 'xDR+xQG'}


def _tables(results: dict, split: str) -> dict[str, dict[str, dict]]:
  """Result tables of one split: R@kt, and the IR metrics when judged."""
  rkt = {SYSTEM_NAMES[s]: {k: v for k, v in r[split].items()
                           if k.startswith('R@') or k == 'counted'}
         for s, r in results.items()}
  tables = {f'XOR-Retrieve R@kt ({split})': rkt}
  if all('ir' in r[split] for r in results.values()):
    tables[f'IR metrics ({split})'] = {SYSTEM_NAMES[s]: r[split]['ir'] for s, r in results.items()}
  return tables


def _report(config, workdir, state: State) -> State:
  """`workdir/reports/{split}/report.md|json` + plots: xDR vs xDR+xQG, sweeps, ANN recall."""
  reports = {}
  for split in _splits(state):
    ann = {f'{SYSTEM_NAMES[s]} {k}': v for s, r in state['results'].items()
           for k, v in (r[split]['ann_recall'] or {}).items()}
    if ann:
      ann.update({f'scann.{k}': v for k, v in config.index.scann.to_dict().items()})
    extra = {}
    if 'generated_quality' in state:
      extra['Generated questions'] = report.Section(
          report.generated_quality_table(state['generated_quality']), state['generated_quality'])
    directory = epath.Path(workdir) / 'reports' / split
    report.write_report(directory, names=tuple(SYSTEM_NAMES.values()),
                        results=_tables(state['results'], split),
                        comparisons=state['comparisons'][split],
                        sweeps=state['sweeps'][split], ann_recall=ann, extra_sections=extra,
                        title=f'xqg-jax {config.name}: xDR vs xDR+xQG on {split}')
    reports[split] = str(directory / report.MARKDOWN_NAME)
  return {'reports': reports}


def _white_box_extras(config, state: State) -> dict[str, dict]:
  """Constructor arguments of the white-box attacks: the xDR query tower and its corpus."""
  encoder = encode_stage.load_encoder(config, state['xdr_dir'])
  tokenizer = tokenizers.load_tokenizer(state['encoder_tokenizer'])
  corpus, corpus_ids = encode.load(state['embeddings']['corpus'])
  qrels = qrels_format.read_qrels(
      epath.Path(state['data_dir']) / f'qrels/{config.robustness.split}.txt')
  common = {'tokenizer': tokenizer, 'max_len': config.data.q_max_len}
  return {'hotflip': {**common, 'encoder': encoder, 'corpus': corpus,
                      'gold': hotflip.gold_rows(qrels, corpus_ids),
                      'top_k': config.robustness.success_k},
          'random_edits': common}


def _attack(config, workdir, state: State) -> State:
  """The attacked query sets of `robustness.split` (`workdir/attacks/{attack}/`)."""
  split = config.robustness.split
  queries, _, _ = evaluate_stage.read_inputs(config, state['data_dir'], split)
  extras = None
  paths = {}
  for name in config.robustness.attacks:
    spec = config.robustness[name].to_dict()

    def build(spec=spec, name=name):
      nonlocal extras
      if spec['kind'] in ('hotflip', 'random_edits'):
        extras = extras or _white_box_extras(config, state)
      return registry.build(spec, seed=config.seed, data_dir=state['data_dir'], split=split,
                            name=name, config=config,
                            **(extras or {}).get(spec['kind'], {}))

    paths[name] = str(robustness_stage.attacked_set(
        config, workdir, name=name, build=build, queries=queries, split=split,
        inputs=_inputs(state, 'data_dir', 'xdr_dir')))
  return {'attacked': paths}


def _robustness(config, workdir, state: State) -> State:
  """Every attacked set on both systems; `workdir/reports/robustness/robustness.md`."""
  split = config.robustness.split
  embeddings = state['embeddings']
  corpora = {'xdr': embeddings['corpus'], 'xdr_xqg': state['fused_dir']}
  encoder = tokenizer = None

  def embed(texts):
    nonlocal encoder, tokenizer
    if encoder is None:
      encoder = encode_stage.load_encoder(config, state['xdr_dir'])
      tokenizer = tokenizers.load_tokenizer(state['encoder_tokenizer'])
    return encoder.embed_texts(tokenizer, texts, max_len=config.data.q_max_len)

  results = {}
  for name, path in state['attacked'].items():
    results[name] = robustness_stage.evaluate_attack(
        config, workdir, name=name, split=split, attacked_path=path, systems=corpora,
        embed=embed, data_dir=state['data_dir'],
        inputs={'attacked': manifest_lib.sha256_file(path),
                **{s: stage_lib.digest(d) for s, d in corpora.items()}})
  metrics = [xor_retrieve.metric_name(k) for k in config.eval.kilo_tokens]
  directory = epath.Path(workdir) / 'reports' / 'robustness'
  robustness_report.write(directory, results, SYSTEM_NAMES, metrics,
                          title=f'xqg-jax {config.name}: robustness on {split}')
  return {'robustness': {name: {k: v for k, v in r.items() if k != 'per_query'}
                         for name, r in results.items()},
          'robustness_report': str(directory / robustness_report.MARKDOWN_NAME)}


STAGES: tuple[tuple[str, Callable[..., State]], ...] = (
    ('data', _data),
    ('tokenizers', _tokenizers),
    ('datasets', _datasets),
    ('train_xdr', _train_xdr),
    ('train_xqg', _train_xqg),
    ('generate', _generate),
    ('encode', _encode),
    ('fuse', _fuse),
    ('evaluate', _evaluate),
    ('sweep', _sweep),
    ('report', _report),
    ('attack', _attack),
    ('robustness', _robustness),
)


def names() -> list[str]:
  return [name for name, _ in STAGES]


def _state_path(workdir, name: str) -> epath.Path:
  return epath.Path(workdir) / 'stages' / f'{name}.json'


def selection(until: str | None = None, only=None, from_stage: str | None = None) -> list[str]:
  """The stages to run: `only` (a list), or `from_stage` .. `until` (inclusive) in order."""
  for stage in [until, from_stage, *(only or [])]:
    if stage is not None and stage not in names():
      raise ValueError(f'unknown stage {stage!r}; stages: {", ".join(names())}')
  if only and (from_stage or until):
    raise ValueError('give either the stages to run or a from/until range, not both')
  if only:
    return [name for name in names() if name in only]
  start = names().index(from_stage) if from_stage else 0
  stop = names().index(until) + 1 if until else len(names())
  if start >= stop:
    raise ValueError(f'from_stage {from_stage!r} comes after until {until!r}')
  return names()[start:stop]


def run(config: ml_collections.ConfigDict, workdir, until: str | None = None, *, only=None,
        from_stage: str | None = None) -> State:
  """Runs the selected stages (`selection`); each skips work its manifest proves done.

  Every stage records what it returns in `workdir/stages/{stage}.json`; a stage before or
  between the selected ones is not run, its recorded result is used as it is (an error
  names it when it has never run).
  """
  selected = selection(until, only, from_stage)
  last = selected[-1]
  state: State = {'timings': {}}
  for name, fn in STAGES:
    if name not in selected:
      path = _state_path(workdir, name)
      if not path.exists():
        raise FileNotFoundError(f'stage {name!r} has not run in {workdir} ({path} is missing); '
                                'run it first or select it too')
      state.update(json.loads(path.read_text()))
      continue
    start = time.perf_counter()
    produced = fn(config, workdir, state)
    atomic.write_text(_state_path(workdir, name), json.dumps(produced, indent=1) + '\n')
    state.update(produced)
    state['timings'][name] = round(time.perf_counter() - start, 3)
    logging.info('stage %s: %.1f s', name, state['timings'][name])
    if name == last:
      break
  return state
