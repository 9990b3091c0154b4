"""The data stages end to end: files, tokenizers and datasets; skip when done; clear errors."""

import shutil
import subprocess
import sys

import pytest
import transformers

import conftest

from launch import stages
from xqg_jax.data import prepare
from xqg_jax.data import tfds_builders
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import queries as queries_format


def _config():
  return conftest.small_config()


def test_stages_write_every_output(prepared):
  _, workdir, state = prepared
  data = workdir / 'data'
  assert state['data_dir'] == str(data)
  for name in ('corpus.tsv', 'queries/train.jsonl', 'train_groups.jsonl', 'qrels/dev.txt',
               'lexicons/km-en.txt', prepare.STATS_NAME, 'manifest.json'):
    assert (data / name).exists(), name
  encoder = tokenizers.load_tokenizer(state['encoder_tokenizer'])
  generator = tokenizers.load_tokenizer(state['generator_tokenizer'])
  assert isinstance(encoder, transformers.BertTokenizerFast)
  assert isinstance(generator, transformers.T5TokenizerFast)
  question = next(queries_format.read_queries(data / 'queries/dev.jsonl')).question
  assert encoder.unk_token_id not in encoder(question)['input_ids']
  dev = tfds_builders.build_and_load('xor_queries', data, state['tfds_dir'], 'dev')
  expected = list(queries_format.read_queries(data / 'queries/dev.jsonl'))
  assert len(dev) == len(expected) == 36
  assert tfds_builders.decode_query(dev[5]) == expected[5]


def test_rerun_skips_and_broken_output_is_redone(prepared):
  _, workdir, _ = prepared
  manifests = [workdir / 'data/manifest.json', workdir / 'tokenizers/encoder/manifest.json',
               workdir / 'tfds/manifest.json']
  before = [p.stat().st_mtime_ns for p in manifests]
  stages.run(_config(), workdir, until='datasets')
  assert [p.stat().st_mtime_ns for p in manifests] == before
  corpus = workdir / 'data/corpus.tsv'
  original = corpus.read_bytes()
  corpus.write_bytes(original[:len(original) // 2])  # a torn write from outside
  stages.run(_config(), workdir, until='data')
  assert corpus.read_bytes() == original
  assert manifests[0].stat().st_mtime_ns != before[0]


def _files_config(manual, **files):
  config = _config()
  config.data.source = 'files'
  config.xqg.pretrain.pairs = config.xqg.extra_pairs = ()  # the synthetic world's, not here
  for field, name in files.items():
    config.data.files[field] = str(manual / name)
  return config


def test_a_query_split_added_to_the_data_is_built(prepared, tmp_path):
  """The datasets of changed data are rebuilt, not taken from the earlier TFDS directory."""
  _, workdir, state = prepared
  data = workdir / 'data'
  manual = tmp_path / 'manual'
  shutil.copytree(data, manual)
  (manual / 'queries/test.jsonl').unlink()
  config = _files_config(manual, corpus='corpus.tsv', dev='queries/dev.jsonl',
                         train='queries/train.jsonl', train_groups='train_groups.jsonl')
  out = tmp_path / 'work'
  first = stages.run(config, out, until='datasets')
  assert 'test' not in tfds_builders.build('xor_queries', out / 'data',
                                           first['tfds_dir']).info.splits
  (manual / 'queries/test.jsonl').write_bytes((data / 'queries/test.jsonl').read_bytes())
  config.data.files.test = str(manual / 'queries/test.jsonl')
  again = stages.run(config, out, until='datasets')
  splits = tfds_builders.build('xor_queries', out / 'data', again['tfds_dir']).info.splits
  expected = list(queries_format.read_queries(data / 'queries/test.jsonl'))
  assert splits['test'].num_examples == len(expected) > 0


def test_files_source_names_what_is_missing(tmp_path):
  config = _files_config(tmp_path, dev='nowhere.jsonl')
  with pytest.raises(ValueError) as e:
    prepare.data_dir(config, tmp_path)
  assert 'data.files.corpus is required' in str(e.value)
  assert f'data.files.dev: {tmp_path / "nowhere.jsonl"} does not exist' in str(e.value)
  config.data.source = 'web'
  with pytest.raises(ValueError, match="got 'web'"):
    prepare.data_dir(config, tmp_path)


def test_prepare_data_main(tmp_path):
  out = subprocess.run(
      [sys.executable, '-m', 'launch.prepare_data', '--config=tiny:entities=60,queries=5',
       '--config.synthetic.dev_queries_per_language=2',
       '--config.synthetic.test_queries_per_language=2',
       '--config.tokenizer.encoder_vocab_size=800', '--config.tokenizer.generator_vocab_size=800',
       f'--workdir={tmp_path}'], capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert (tmp_path / 'tfds/manifest.json').exists()
  assert (tmp_path / 'tokenizers/generator/hf/tokenizer.json').exists()
