"""The pipeline's stages in order, each a function of (config, workdir, state so far).

A stage's function returns the facts later stages need (directories, paths); each skips its
own work when its manifest proves it done, so running the list again is cheap. `STAGES`
declares what each reads (config fields, files named by the config, earlier stages), so a
recorded result is reused only while those are unchanged (`io/stage_graph.py`).
"""

import json
from typing import Any

from absl import logging

from etils import epath
import ml_collections

from launch import config_validation
from xqg_jax import languages
from xqg_jax.augment import fusion
from xqg_jax.configs import common
from xqg_jax.data import prepare
from xqg_jax.data import records
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import augmented
from xqg_jax.data.formats import embedding_shards
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.data.synthetic import benchmark
from xqg_jax.data.synthetic import generated_quality
from xqg_jax.encoders import encode_stage
from xqg_jax.encoders import train_xdr
from xqg_jax.eval import compare
from xqg_jax.eval import evaluate_stage
from xqg_jax.eval import retrieval_report
from xqg_jax.eval import select_stage
from xqg_jax.eval import sweep
from xqg_jax.eval import systems as systems_lib
from xqg_jax.eval import xor_retrieve
from xqg_jax.generation import generate_stage
from xqg_jax.generation import oracle_stage
from xqg_jax.generation import train_xqg
from xqg_jax.io import manifest as manifest_lib
from xqg_jax.io import stage_dir as stage_lib
from xqg_jax.io import stage_graph
from xqg_jax.io.stage_graph import Stage
from xqg_jax.robustness import hotflip
from xqg_jax.robustness import paraphrase
from xqg_jax.robustness import registry
from xqg_jax.robustness import robustness_report
from xqg_jax.robustness import robustness_stage

State = dict[str, Any]


def _data(config, workdir, state: State) -> State:
  directory = prepare.data_dir(config, workdir)
  return {'data_dir': str(directory), 'data_digest': prepare.data_digest(directory)}


def _tokenizers(config, workdir, state: State) -> State:
  dirs = prepare.tokenizer_dirs(config, epath.Path(state['data_dir']), workdir,
                                state['data_digest'])
  return {f'{role}_tokenizer': path for role, path in dirs.items()}


def _datasets(config, workdir, state: State) -> State:
  return {'tfds_dir': str(prepare.datasets_dir(config, epath.Path(state['data_dir']), workdir,
                                                state['data_digest']))}


def _inputs(state: State, *keys: str) -> dict[str, str]:
  """Digests of earlier stages' outputs; a path the user configured stands for its content."""
  out = {}
  for key in keys:
    if key == 'data_dir':
      out[key] = state['data_digest']
      continue
    path = epath.Path(state[key])
    manifest_dir = path if (path / 'manifest.json').exists() else path.parent
    out[key] = (stage_lib.digest(manifest_dir) if (manifest_dir / 'manifest.json').exists()
                else f'sha256:{stage_lib.content_digest(path)}')
  return out


def _train_xdr(config, workdir, state: State) -> State:
  out = train_xdr.train(config, workdir, data_dir=state['data_dir'], tfds_dir=state['tfds_dir'],
                        tokenizer_dir=state['encoder_tokenizer'],
                        inputs=_inputs(state, 'data_dir', 'encoder_tokenizer'))
  return {'xdr_dir': str(out)}


def _pretrain_xqg(config, workdir, state: State) -> State:
  inputs = _inputs(state, 'data_dir', 'generator_tokenizer')
  out = train_xqg.pretrain(config, workdir, data_dir=state['data_dir'],
                           tokenizer_dir=state['generator_tokenizer'], inputs=inputs)
  return {'xqg_pretrain_dir': str(out) if out else None}


def _train_xqg(config, workdir, state: State) -> State:
  inputs = _inputs(state, 'data_dir', 'generator_tokenizer')
  if state['xqg_pretrain_dir']:
    inputs.update(_inputs(state, 'xqg_pretrain_dir'))
  out = train_xqg.train(config, workdir, data_dir=state['data_dir'], tfds_dir=state['tfds_dir'],
                        tokenizer_dir=state['generator_tokenizer'], inputs=inputs,
                        pretrained_dir=state['xqg_pretrain_dir'])
  return {'xqg_dir': str(out)}


def _quality(config, directory) -> dict | None:
  """Generated-question quality of a generated directory (synthetic data only)."""
  if config.data.source != 'synthetic':
    return None
  rows = (row for path in sorted(epath.Path(directory).glob('generated-*.jsonl'))
          for row in augmented.read_augmented(path, check_duplicates=False))
  return generated_quality.compute(benchmark.SyntheticBenchmark(config.synthetic), rows)


def _generate(config, workdir, state: State) -> State:
  out = generate_stage.run(config, workdir, xqg_dir=state['xqg_dir'],
                           data_dir=state['data_dir'], tfds_dir=state['tfds_dir'],
                           tokenizer_dir=state['generator_tokenizer'],
                           inputs=_inputs(state, 'xqg_dir', 'data_dir'))
  return {'generated_dir': str(out), 'generated_quality': _quality(config, out),
          'generated_counts': manifest_lib.read(out)['extra']['counts']}


def _oracle(config, workdir, state: State) -> State:
  """The oracle's questions (synthetic data only; None otherwise)."""
  if config.data.source != 'synthetic':
    return {'oracle_dir': None, 'oracle_quality': None}
  out = oracle_stage.run(config, workdir, inputs=_inputs(state, 'data_dir'))
  return {'oracle_dir': str(out), 'oracle_quality': _quality(config, out)}


def _question_sources(state: State) -> dict[str, str]:
  """{source: its generated-question directory}: xqg, and the oracle when there is one."""
  sources = {'xqg': state['generated_dir']}
  if state.get('oracle_dir'):
    sources['oracle'] = state['oracle_dir']
  return sources


def _encode(config, workdir, state: State) -> State:
  dirs = encode_stage.run(config, workdir, xdr_dir=state['xdr_dir'], data_dir=state['data_dir'],
                          tfds_dir=state['tfds_dir'], tokenizer_dir=state['encoder_tokenizer'],
                          inputs=_inputs(state, 'xdr_dir', 'data_dir'))
  for source, directory in _question_sources(state).items():
    dirs[source] = encode_stage.encode_generated(
        config, workdir, xdr_dir=state['xdr_dir'], generated_dir=directory,
        tokenizer_dir=state['encoder_tokenizer'], name=source,
        inputs={**_inputs(state, 'xdr_dir'), 'questions': stage_lib.digest(directory)})
  return {'embeddings': dirs}


def _splits(state: State) -> list[str]:
  return [split for split in records.EVALUATION_SPLITS
          if f'queries-{split}' in state['embeddings']]


def _question_embeddings(state: State) -> dict[str, str]:
  return {source: state['embeddings'][source] for source in _question_sources(state)}


def _select(config, workdir, state: State) -> State:
  """Alpha, fusion and n per question source, chosen on dev only (`select_stage`)."""
  embeddings = state['embeddings']
  questions = _question_embeddings(state)
  dev = {s: embeddings[f'queries-{s}'] for s in _splits(state) if s == select_stage.SPLIT}
  inputs = {name: stage_lib.digest(d)
            for name, d in {'corpus': embeddings['corpus'], **questions, **dev}.items()}
  selection = select_stage.run(
      config, workdir, corpus_dir=embeddings['corpus'], question_dirs=questions,
      query_embeddings=dev, data_dir=state['data_dir'], inputs=inputs)
  return {'selection': {k: v for k, v in selection.items() if k != 'rows'}}


def _labeled(config, state: State, split: str) -> bool:
  queries, _ = evaluate_stage.read_inputs(config, state['data_dir'], split)
  return evaluate_stage.labeled(queries)


def _query_languages(config, data_dir, splits) -> list[str]:
  langs = set()
  for split in splits:
    queries, _ = evaluate_stage.read_inputs(config, data_dir, split)
    langs.update(q.lang for q in queries)
  return sorted(langs, key=list(languages.LANGUAGES).index)


def _fuse(config, workdir, state: State) -> State:
  """The fused corpora of every (source, fusion) at its chosen setting, as systems."""
  embeddings = state['embeddings']
  query_langs = _query_languages(config, state['data_dir'], _splits(state))
  systems = {'xdr': systems_lib.System('xdr', {systems_lib.ANY_LANGUAGE: embeddings['corpus']})}
  for source, questions_dir in _question_embeddings(state).items():
    for fusion_name in config.augment.fusions:
      setting = state['selection']['chosen'][f'{source}/{fusion_name}']
      name = f'{source}_{fusion_name}'
      systems[name] = systems_lib.System(name, fusion.fuse_routing(
          epath.Path(workdir) / 'fused' / source, fusion=fusion_name, alpha=setting['alpha'],
          num_queries=setting['num_queries'], reduce=config.augment.reduce,
          languages=config.augment.languages, query_languages=query_langs,
          corpus_dir=embeddings['corpus'], questions_dir=questions_dir,
          inputs={'corpus': stage_lib.digest(embeddings['corpus']),
                  'generated': stage_lib.digest(questions_dir)}))
  return {'systems': {name: s.to_dict() for name, s in systems.items()}}


def _systems(state: State) -> dict[str, systems_lib.System]:
  return {name: systems_lib.System.from_dict(s) for name, s in state['systems'].items()}


def headline(state: State) -> str:
  """The xDR+xQG system chosen on dev (its fusion is part of the choice)."""
  return f'xqg_{state["selection"]["chosen"]["xqg"]["fusion"]}'


def _evaluate(config, workdir, state: State) -> State:
  """Every system on every split (exact, and ScaNN beside), then each against xDR."""
  embeddings = state['embeddings']
  results, comparisons = {}, {}
  for split in _splits(state):
    for name, system in _systems(state).items():
      results.setdefault(name, {})[split] = evaluate_stage.run(
          config, workdir, system=system, query_embeddings=embeddings[f'queries-{split}'],
          data_dir=state['data_dir'], split=split,
          inputs={**{f'corpus:{k}': stage_lib.digest(d) for k, d in system.corpora.items()},
                  'queries': stage_lib.digest(embeddings[f'queries-{split}'])})
    if evaluate_stage.is_scored(results['xdr'][split][evaluate_stage.EXACT]):
      comparisons[split] = {
          name: compare.systems(config, results['xdr'][split][evaluate_stage.EXACT],
                                results[name][split][evaluate_stage.EXACT])
          for name in results if name != 'xdr'}
  slim = {name: {split: {search: {k: v for k, v in r.items()
                                  if k not in ('outcomes', 'ir_per_query')}
                         for search, r in by_split.items()}
                 for split, by_split in per.items()} for name, per in results.items()}
  return {'results': slim, 'comparisons': comparisons}


def _sweep(config, workdir, state: State) -> State:
  """R@kt against n on test (chosen fusion and alpha kept), each n tested against xDR."""
  embeddings = state['embeddings']
  questions = _question_embeddings(state)
  split = 'test' if 'test' in _splits(state) else None
  if split is None or not _labeled(config, state, split):
    return {'sweeps': {}}
  inputs = {name: stage_lib.digest(d) for name, d in
            {'corpus': embeddings['corpus'], **questions,
             'queries': embeddings[f'queries-{split}']}.items()}
  return {'sweeps': {split: sweep.run(
      config, workdir, corpus_dir=embeddings['corpus'], question_dirs=questions,
      selection=state['selection'], query_embeddings=embeddings[f'queries-{split}'],
      data_dir=state['data_dir'], split=split, inputs=inputs)}}


def _report(config, workdir, state: State) -> State:
  """`workdir/reports/{split}/report.md|json` + plots (`eval/retrieval_report.py`)."""
  reports = {}
  for split in _splits(state):
    directory = epath.Path(workdir) / 'reports' / split
    if split not in state['comparisons']:
      retrieval_report.write_unscored_report(
          directory, split=split, results=state['results'],
          runs={name: str(epath.Path(workdir) / 'eval' / name / split / evaluate_stage.EXACT)
                for name in state['results']},
          title=f'xqg-jax {config.name}: retrieval on {split}')
      reports[split] = str(directory / retrieval_report.MARKDOWN_NAME)
      continue
    retrieval_report.write_split_report(
        directory, config=config, split=split, results=state['results'],
        comparisons=state['comparisons'][split], headline=headline(state),
        selection=state['selection'], selection_rows=_selection_rows(workdir),
        sweep=state['sweeps'].get(split), quality={
            'xqg': state.get('generated_quality'), 'oracle': state.get('oracle_quality')},
        generation=state['generated_counts'],
        title=f'xqg-jax {config.name}: retrieval on {split}')
    reports[split] = str(directory / retrieval_report.MARKDOWN_NAME)
  return {'reports': reports}


def _selection_rows(workdir) -> list[dict]:
  path = epath.Path(workdir) / 'select' / select_stage.SELECTION_JSON
  return json.loads(path.read_text())['rows'] if path.exists() else []


def _white_box_extras(config, state: State, kind: str) -> dict:
  """Constructor arguments of a white-box attack: the xDR query tower (and, for HotFlip, the
  corpus embeddings and the gold rows it pushes out)."""
  common = {'tokenizer': tokenizers.load_tokenizer(state['encoder_tokenizer']),
            'max_len': config.data.q_max_len}
  if kind == 'random_edits':
    return common
  corpus, corpus_ids = embedding_shards.load(state['embeddings']['corpus'])
  qrels = qrels_format.read_qrels(
      epath.Path(state['data_dir']) / f'qrels/{config.robustness.split}.txt')
  return {**common, 'encoder': encode_stage.load_encoder(config, state['xdr_dir']),
          'corpus': corpus, 'gold': hotflip.gold_rows(qrels, corpus_ids),
          'top_k': config.robustness.success_k}


def _attack(config, workdir, state: State) -> State:
  """The attacked query sets of `robustness.split` (`workdir/attacks/{attack}/`); an attack
  the data cannot feed (`registry.missing_resource`) is skipped with its reason."""
  split = config.robustness.split
  queries, _ = evaluate_stage.read_inputs(config, state['data_dir'], split)
  if not evaluate_stage.labeled(queries):
    reason = (f'robustness.split={split!r} has no answers to score attacks by (a question-only '
              'file); attack a labeled split, e.g. robustness.split=dev')
    logging.warning('every attack skipped: %s', reason)
    return {'attacked': {}, 'attacks_skipped': dict.fromkeys(config.robustness.attacks, reason)}
  queries = robustness_stage.per_language_subset(queries, config.robustness.queries_per_language)
  paths, skipped = {}, {}
  for name in config.robustness.attacks:
    spec = config.robustness[name].to_dict()
    reason = registry.missing_resource(spec, data_dir=state['data_dir'], split=split)
    if reason:
      skipped[name] = reason
      logging.warning('attack %s skipped: %s', name, reason)
      continue

    def build(spec=spec, name=name):
      extras = (_white_box_extras(config, state, spec['kind'])
                if spec['kind'] in ('hotflip', 'random_edits') else {})
      return registry.build(spec, seed=config.seed, data_dir=state['data_dir'], split=split,
                            name=name, runtime=paraphrase.Runtime.from_config(config), **extras)

    paths[name] = str(robustness_stage.attacked_set(
        config, workdir, name=name, build=build, queries=queries, split=split,
        inputs=_inputs(state, 'data_dir', 'xdr_dir')))
  return {'attacked': paths, 'attacks_skipped': skipped}


def _robustness(config, workdir, state: State) -> State:
  """Every attacked set on both systems; `workdir/reports/robustness/robustness.md`."""
  split = config.robustness.split
  systems = _systems(state)
  compared = {'xdr': systems['xdr'], headline(state): systems[headline(state)]}
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
        config, workdir, name=name, split=split, attacked_path=path, systems=compared,
        embed=embed, data_dir=state['data_dir'],
        inputs={'attacked': manifest_lib.sha256_file(path),
                **{f'{n}:{k}': stage_lib.digest(d) for n, s in compared.items()
                   for k, d in s.corpora.items()},
                **{f'clean:{n}': stage_lib.digest(epath.Path(workdir) / 'eval' / n / split)
                   for n in compared}})
  metrics = [xor_retrieve.metric_name(k) for k in config.eval.kilo_tokens]
  directory = epath.Path(workdir) / 'reports' / 'robustness'
  system_names = {n: retrieval_report.system_name(n) for n in compared}
  robustness_report.write(directory, results, system_names, metrics,
                          title=f'xqg-jax {config.name}: robustness on {split}',
                          skipped=state.get('attacks_skipped', {}))
  return {'robustness': {name: {k: v for k, v in r.items() if k != 'per_query'}
                         for name, r in results.items()},
          'robustness_report': str(directory / robustness_report.MARKDOWN_NAME)}


# What every stage reads. `seed`, `languages` and `on_bad_record` are read wherever data is
# read or randomness drawn; a sub-tree stands for all of its fields.
_DATA = ('data', 'on_bad_record', 'languages')
STAGES: tuple[Stage, ...] = (
    Stage('data', _data, reads=('data', 'synthetic', 'on_bad_record'),
          files=tuple(f'data.files.{field}' for field in common.FILE_FIELDS)),
    Stage('tokenizers', _tokenizers, reads=('tokenizer', 'xqg.pretrain.pairs', 'xqg.extra_pairs',
                                            'generate.languages', 'on_bad_record'),
          after=('data',), files=('tokenizer.encoder', 'tokenizer.generator')),
    Stage('datasets', _datasets, reads=_DATA, after=('data',)),
    Stage('train_xdr', _train_xdr, reads=(*_DATA, 'seed', 'xdr'),
          after=('data', 'tokenizers', 'datasets'), files=('xdr.init_from',)),
    Stage('pretrain_xqg', _pretrain_xqg, reads=(*_DATA, 'seed', 'xqg'),
          after=('data', 'tokenizers'), files=('xqg.init_from',)),
    Stage('train_xqg', _train_xqg, reads=(*_DATA, 'seed', 'xqg', 'generate.languages'),
          after=('data', 'tokenizers', 'datasets', 'pretrain_xqg'), files=('xqg.init_from',)),
    Stage('generate', _generate, reads=(*_DATA, 'seed', 'xqg', 'generate', 'synthetic'),
          after=('data', 'tokenizers', 'datasets', 'train_xqg')),
    Stage('oracle', _oracle, reads=(*_DATA, 'generate', 'synthetic'), after=('data',)),
    Stage('encode', _encode, reads=(*_DATA, 'xdr'),
          after=('data', 'tokenizers', 'datasets', 'train_xdr', 'generate', 'oracle')),
    Stage('select', _select, reads=(*_DATA, 'seed', 'augment', 'eval', 'index'),
          after=('data', 'generate', 'oracle', 'encode')),
    Stage('fuse', _fuse, reads=(*_DATA, 'augment'),
          after=('data', 'generate', 'oracle', 'encode', 'select')),
    Stage('evaluate', _evaluate, reads=(*_DATA, 'seed', 'augment', 'eval', 'index'),
          after=('data', 'encode', 'select', 'fuse')),
    Stage('sweep', _sweep, reads=(*_DATA, 'seed', 'augment', 'eval', 'index'),
          after=('data', 'generate', 'oracle', 'encode', 'select')),
    Stage('report', _report, reads=('name', 'eval', 'augment', 'synthetic'),
          after=('generate', 'oracle', 'select', 'evaluate', 'sweep')),
    Stage('attack', _attack, reads=(*_DATA, 'seed', 'robustness', 'xdr', 'xqg.dtype',
                                    'generate.compiler_options'),
          after=('data', 'tokenizers', 'train_xdr', 'encode')),
    Stage('robustness', _robustness, reads=(*_DATA, 'seed', 'robustness', 'eval', 'index',
                                            'augment', 'xdr', 'name'),
          after=('data', 'tokenizers', 'train_xdr', 'select', 'fuse', 'evaluate', 'attack')),
)
BY_NAME = {stage.name: stage for stage in STAGES}


def names() -> list[str]:
  return list(BY_NAME)


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

  The whole config is validated first (`config_validation`). A stage before or between the
  selected ones is not run: its recorded result
  (`workdir/stages/{stage}.json`) is used when the config fields, files and earlier results
  it read are unchanged, else an error names the stage and what changed.
  """
  names = selection(until, only, from_stage)
  config_validation.validate(config)
  return stage_graph.run(STAGES, config, workdir, names)


def summary(state: State) -> str:
  """The end of a run: stage times, each split's systems against xDR, where the reports are."""
  timings = state['timings']
  lines = [f'Ran {len(timings)} stages in {sum(timings.values()):.0f} s: '
           + ', '.join(f'{name} {seconds:.0f} s' for name, seconds in timings.items()) + '.']
  for split, path in state.get('reports', {}).items():
    document = json.loads((epath.Path(path).parent / retrieval_report.JSON_NAME).read_text())
    if not document.get('scored', True):
      lines.append(f'\n{split}: not scored: {document["reason"]}')
      continue
    lines += [f'\n{split}: every system against xDR (macro, exact search)\n',
              retrieval_report.deltas_table(document['comparisons'], document['settings'])]
  paths = [*state.get('reports', {}).values(), state.get('robustness_report')]
  lines += ['Reports (Markdown, JSON and plots):'] + [f'  {p}' for p in paths if p]
  return '\n'.join(lines)
