"""The data stages: the data directory, the tokenizers, and the TFDS datasets built from them.

  data        `workdir/data`: the synthetic benchmark written in the real formats, or with
              `data.source='files'` the released files named by `data.files`, linked in place
              (`released_files.py`)
  tokenizers  `workdir/tokenizers/{encoder,generator}`: HF tokenizer directories, trained on
              the corpus and training questions unless `tokenizer.encoder/generator` name one
  datasets    `workdir/tfds`: ArrayRecord datasets for random access by the pipelines

Each returns where its outputs are and is skipped when its manifest proves them done.
"""

import itertools
import json
from typing import Iterator

from etils import epath
import ml_collections

from xqg_jax.data import errors
from xqg_jax.data import prompts
from xqg_jax.data import released_files
from xqg_jax.data import tfds_builders
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import paraphrases as paraphrases_format
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.data.formats import text_pairs
from xqg_jax.data.synthetic import benchmark as benchmark_lib
from xqg_jax.data.synthetic import export
from xqg_jax.data.synthetic import stats as stats_lib
from xqg_jax.io import atomic
from xqg_jax.io import manifest
from xqg_jax.io import stage_dir

STATS_NAME = 'benchmark_stats.json'
SOURCES = ('synthetic', 'files')
DATASETS_DIR = 'tfds'  # under the work dir: the datasets stage's record and datasets


def data_dir(config: ml_collections.ConfigDict, workdir) -> epath.Path:
  """Makes `workdir/data`: the synthetic benchmark, or the user's files (`released_files`)."""
  if config.data.source == 'files':
    return released_files.data_dir(config, workdir)
  if config.data.source not in SOURCES:
    raise ValueError(f'data.source must be one of {SOURCES}, got {config.data.source!r}')
  bench = benchmark_lib.SyntheticBenchmark(config.synthetic)

  def produce(directory):
    outputs = export.write(bench, directory)
    statistics = stats_lib.compute(
        bench, with_baseline=(bench.world.num_passages
                              <= config.synthetic.bm25_baseline_max_passages))
    atomic.write_text(directory / STATS_NAME, json.dumps(statistics, indent=1) + '\n')
    return outputs + [STATS_NAME], {'num_passages': bench.world.num_passages}

  directory = epath.Path(workdir) / 'data'
  stage_dir.run(directory, stage='data', config=config.synthetic.to_dict(), inputs={},
            produce=produce)
  return directory


def training_texts(config: ml_collections.ConfigDict, data: epath.Path,
                   for_generator: bool) -> Iterator[str]:
  """Texts to train a tokenizer on: a strided sample of passages, every training question
  and its known paraphrases; for the generator also one prompt per generated language and its
  pre-training pairs."""
  policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
  num_lines = sum(1 for _ in (data / 'corpus.tsv').open('rb'))
  stride = max(1, num_lines // config.tokenizer.train_sample_size)
  for passage in itertools.islice(corpus_format.read_corpus(data / 'corpus.tsv', policy,
                                                            check_duplicates=False),
                                  0, None, stride):
    yield f'{passage.title} {passage.text}'
  train = data / 'queries/train.jsonl'
  if train.exists():
    for query in queries_format.read_queries(train, policy):
      yield query.question
  paraphrase_file = data / 'paraphrases/train.jsonl'
  if paraphrase_file.exists():
    for row in paraphrases_format.read_paraphrases(paraphrase_file, policy):
      yield from row.paraphrases
  if for_generator:
    for lang in config.generate.languages:
      yield prompts.prompt(lang, '', '')
    for path in pretraining_files(config, data):
      for pair in text_pairs.read_text_pairs(path, policy):
        yield f'{pair.input} {pair.target}'


def pretraining_files(config: ml_collections.ConfigDict, data: epath.Path) -> list[epath.Path]:
  """The generator's pre-training and extra fine-tuning pair files (relative to `data`)."""
  paths = [data / name for name in (*config.xqg.pretrain.pairs, *config.xqg.extra_pairs)]
  missing = [str(p) for p in paths if not p.exists()]
  if missing:
    raise FileNotFoundError(f'xqg.pretrain.pairs / xqg.extra_pairs name missing files: '
                            f'{", ".join(missing)} (relative names are under {data})')
  return paths


def _train_generator_tokenizer(config: ml_collections.ConfigDict, texts: Iterator[str],
                               out_dir) -> None:
  t = config.tokenizer
  if t.generator_kind == 'unigram':
    tokenizers.train_unigram(texts, t.generator_vocab_size, out_dir)
  elif t.generator_kind == 'words_and_chars':
    tokenizers.train_words_and_chars(texts, t.generator_min_word_texts, out_dir)
  else:
    raise ValueError("tokenizer.generator_kind must be 'unigram' or 'words_and_chars', got "
                     f'{t.generator_kind!r}')


def tokenizer_dirs(config: ml_collections.ConfigDict, data: epath.Path, workdir,
                   digest: str) -> dict[str, str]:
  """{'encoder': dir, 'generator': dir}: configured tokenizers, or ones trained on `data`
  (whose `data_digest` is `digest`)."""
  out = {}
  t = config.tokenizer
  trainers = {
      'encoder': (lambda texts, d: tokenizers.train_wordpiece(texts, t.encoder_vocab_size, d),
                  {'vocab_size': t.encoder_vocab_size}),
      'generator': (lambda texts, d: _train_generator_tokenizer(config, texts, d),
                    {'kind': t.generator_kind, 'vocab_size': t.generator_vocab_size,
                     'min_word_texts': t.generator_min_word_texts,
                     'pretraining': [*config.xqg.pretrain.pairs, *config.xqg.extra_pairs]}),
  }
  for role, (train, settings) in trainers.items():
    configured = config.tokenizer[role]
    if configured:
      out[role] = configured
      continue
    directory = epath.Path(workdir) / 'tokenizers' / role

    def produce(d, train=train, role=role):
      train(training_texts(config, data, role == 'generator'), d / 'hf')
      return stage_dir.files_under(d, 'hf'), {}

    stage_dir.run(directory, stage=f'tokenizer_{role}',
              config={**settings, 'sample': t.train_sample_size,
                      'on_bad_record': config.on_bad_record},
              inputs={'data': digest}, produce=produce)
    out[role] = str(directory / 'hf')
  return out


def datasets_dir(config: ml_collections.ConfigDict, data: epath.Path, workdir,
                 digest: str) -> epath.Path:
  """Builds the ArrayRecord datasets of `data` (`data_digest` `digest`) under `workdir/tfds`;
  returns their directory."""
  directory = epath.Path(workdir) / DATASETS_DIR

  def produce(d):
    # TFDS reuses a prepared dataset it finds; datasets of other data (a file added or
    # changed, another synthetic config) would be taken for these, so they go first.
    if (d / 'datasets').exists():
      (d / 'datasets').rmtree()
    policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
    built = {}
    for name in tfds_builders.BUILDERS:
      if name == 'xor_train_groups' and not (data / 'train_groups.jsonl').exists():
        continue  # Evaluation-only data: no training groups.
      builder = tfds_builders.build(name, data, d / 'datasets', policy=policy)
      built[name] = {split: info.num_examples for split, info in builder.info.splits.items()}
    return stage_dir.files_under(d, 'datasets'), {'examples': built,
                                              'bad_records': policy.summary()}

  stage_dir.run(directory, stage='datasets', config={'on_bad_record': config.on_bad_record},
            inputs={'data': digest}, produce=produce)
  return directory / 'datasets'


def corpus_size(workdir) -> int:
  """The passages the datasets stage of the run in `workdir` built (from its record)."""
  record = manifest.read(epath.Path(workdir) / DATASETS_DIR)
  if record is None:
    raise ValueError(f'{workdir}/{DATASETS_DIR}: no datasets record (the stage has not run)')
  return record['extra']['examples'][tfds_builders.XorCorpus.name]['corpus']


def data_digest(data: epath.Path) -> str:
  """What the data directory holds: the digest of its manifest."""
  return stage_dir.digest(data)
