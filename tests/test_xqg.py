"""xQG: training pairs, teacher forcing, exact resume, held-out loss, the generation stage."""

import json
import os

import numpy as np
import pytest

from xqg_jax import languages
from xqg_jax.data import records
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import augmented
from xqg_jax.generation import generate_stage
from xqg_jax.generation import qgen_data
from xqg_jax.generation import train_xqg

import conftest

PASSAGE = records.Passage('p1', 'Kanto was founded in 1742.', 'Kanto')


def test_examples_use_the_paper_prompt_and_languages():
  group = records.TrainGroup('q1', 'カントは？', (PASSAGE,), ())
  items = qgen_data.examples([group], {'q1': 'ja'}, ['ja', 'km'])
  assert items == [qgen_data.Example(
      'q1', 'ja', 'Generate a Japanese question for this passage: Kanto Kanto was founded in 1742.',
      'カントは？')]
  assert not qgen_data.examples([group], {'q1': 'ja'}, ['km'])
  with pytest.raises(KeyError, match="'q1' has no query"):
    qgen_data.examples([group], {}, ['ja'])


def test_rebalance_moves_language_shares_towards_uniform():
  items = [qgen_data.Example(f'{lang}{i}', lang, 'p', 't')
           for lang, n in (('ar', 8), ('am', 2)) for i in range(n)]
  assert qgen_data.rebalance(items, 1.0, seed=0) == items
  uniform = qgen_data.rebalance(items, 0.0, seed=0)
  assert [e.lang for e in uniform].count('am') == 5 and len(uniform) == 10
  assert {e.query_id for e in uniform if e.lang == 'am'} == {'am0', 'am1'}
  assert uniform == qgen_data.rebalance(items, 0.0, seed=0)
  sqrt = qgen_data.rebalance(items, 0.5, seed=0)  # shares 2:1 -> 7 ar (largest remainder), 3 am
  assert [e.lang for e in sqrt].count('ar') == 7 and len(sqrt) == 10


def test_teacher_forcing_batches(prepared):
  tokenizer = tokenizers.load_tokenizer(prepared[2]['generator_tokenizer'])
  items = [qgen_data.Example('q', 'ja', 'Generate a Japanese question: x', 'カント') for _ in range(3)]
  batch = qgen_data.train_batches(items, tokenizer, input_max_len=16, target_max_len=8,
                                  decoder_start_id=0, batch_size=4, seed=0, epoch=0,
                                  drop_remainder=False)[0]
  labels = batch['labels']
  np.testing.assert_array_equal(batch['decoder_input_ids'][:, 1:], labels[:, :-1])
  assert (batch['decoder_input_ids'][:, 0] == 0).all()
  assert labels[0, batch['weights'][0].astype(bool)].tolist()[-1] == tokenizer.eos_token_id
  assert batch['weights'][3].sum() == 0 and not batch['valid'][3]  # the padding row


def test_length_buckets_pad_each_batch_to_the_smallest_pair_that_holds_it(prepared):
  tokenizer = tokenizers.load_tokenizer(prepared[2]['generator_tokenizer'])
  short = [qgen_data.Example(f's{i}', 'ja', 'x', 'カ') for i in range(8)]
  long = [qgen_data.Example(f'l{i}', 'ja', 'x ' * 6, 'カ ' * 10) for i in range(8)]
  items = short + long
  shapes = ((4, 4), (16, 24))
  keys = qgen_data.shape_keys(items, tokenizer, shapes)
  assert keys.tolist() == [0] * 8 + [1] * 8
  batches = list(qgen_data.train_batches(items, tokenizer, input_max_len=99, target_max_len=99,
                                         decoder_start_id=0, batch_size=4, seed=0, epoch=0,
                                         shapes=shapes, keys=keys))
  widths = sorted((b['input_ids'].shape[1], b['labels'].shape[1]) for b in batches)
  assert widths == [(4, 4)] * 2 + [(16, 24)] * 2  # each batch holds one kind only
  for b in batches:
    assert not b['input_truncated'].any() and not b['target_truncated'].any()
  with pytest.raises(ValueError, match='must grow in both lengths'):
    qgen_data.shape_keys(items, tokenizer, ((8, 24), (16, 16)))


def _train(config, workdir, stages, stop_at=None):
  return train_xqg.train(config, workdir, data_dir=stages['data_dir'],
                         tfds_dir=stages['tfds_dir'],
                         tokenizer_dir=stages['generator_tokenizer'], inputs={'t': '1'},
                         stop_at=stop_at)


def test_training_resumes_exactly_and_beats_untrained(tmp_path, prepared):
  stages = prepared[2]
  config = conftest.small_config()
  config.xqg.num_train_steps = 30
  config.xqg.checkpoint_every = 10
  config.xqg.log_every = 10
  config.xqg.learning_rate = 3e-3
  whole = _train(config, tmp_path / 'whole', stages)
  _train(config, tmp_path / 'split', stages, stop_at=10)
  assert not os.path.exists(tmp_path / 'split/xqg/manifest.json')
  resumed = _train(config, tmp_path / 'split', stages)
  assert ((whole / 'hf/model.safetensors').read_bytes()
          == (resumed / 'hf/model.safetensors').read_bytes())
  heldout = json.loads((whole / train_xqg.HELDOUT_JSON).read_text())
  assert heldout['examples'] == 8  # 4 dev questions in each of ja and km
  assert heldout['trained'] < heldout['untrained'] - 1.0
  vocab = json.loads((whole / 'model.json').read_text())['t5']['vocab_size']
  assert heldout['untrained'] < np.log(vocab) + 1.0  # the scratch head starts near uniform
  # The export loads in transformers, tokenizer included.
  import transformers  # pylint: disable=g-import-not-at-top
  exported = transformers.AutoTokenizer.from_pretrained(whole / 'hf')
  text = 'Generate a Japanese question for this passage: Kanto'
  assert exported(text)['input_ids'] == tokenizers.load_tokenizer(
      stages['generator_tokenizer'])(text)['input_ids']
  model = transformers.AutoModelForSeq2SeqLM.from_pretrained(whole / 'hf')
  assert model.config.vocab_size == vocab


@pytest.fixture(scope='module')
def trained(tmp_path_factory, prepared):
  workdir = tmp_path_factory.mktemp('xqg')
  return workdir, _train(conftest.small_config(), workdir, prepared[2])


def _generate(config, workdir, xqg_dir, stages, devices=None):
  return generate_stage.run(config, workdir, xqg_dir=xqg_dir, data_dir=stages['data_dir'],
                            tfds_dir=stages['tfds_dir'],
                            tokenizer_dir=stages['generator_tokenizer'], inputs={'t': '1'},
                            devices=devices)


def _read(directory):
  rows = []
  for name in sorted(os.listdir(directory)):
    if name.startswith('generated-'):
      rows += list(augmented.read_augmented(directory / name))
  return rows


def test_generation_covers_every_passage_and_language_and_resumes(trained, tmp_path, prepared):
  _, xqg_dir = trained
  stages = prepared[2]
  config = conftest.small_config()
  out = _generate(config, tmp_path, xqg_dir, stages)
  rows = _read(out)
  assert len(rows) == 120 and len({r.docid for r in rows}) == 120
  for row in rows:
    assert sorted(row.generated_queries) == ['ja', 'km']
    assert all(len(qs) == 2 for qs in row.generated_queries.values())
  manifest = json.loads((out / 'manifest.json').read_text())
  assert manifest['extra']['counts']['questions'] == 120 * 2 * 2
  shard = out / generate_stage.shard_file(1, 3)
  original = shard.read_bytes()
  shard.unlink()
  _generate(config, tmp_path, xqg_dir, stages)
  assert shard.read_bytes() == original


def test_generation_is_independent_of_batch_size_and_devices(tmp_path, prepared):
  import jax  # pylint: disable=g-import-not-at-top
  stages = prepared[2]
  # An untrained generator: near-uniform next-token distributions make sampling matter in
  # every output (a briefly trained one may end every question at once, equal for any seed).
  untrained = conftest.small_config()
  untrained.xqg.num_train_steps = 0
  xqg_dir = _train(untrained, tmp_path / 'untrained', stages)
  config = conftest.small_config()
  config.generate.do_sample = True
  config.generate.top_k = 20
  one = conftest.small_config()
  one.generate.top_k = 20
  one.generate.batch_size = 3
  one.mesh = (('data', 1), ('model', 1))
  sharded = _read(_generate(config, tmp_path / 'sharded', xqg_dir, stages))
  single = _read(_generate(one, tmp_path / 'single', xqg_dir, stages,
                           devices=jax.devices()[:1]))
  assert sharded == single
  questions = [q for row in sharded for qs in row.generated_queries.values() for q in qs]
  assert sum(bool(q) for q in questions) > len(questions) / 2
  different_seed = conftest.small_config()
  different_seed.generate.top_k = 20
  different_seed.generate.seed = 1
  assert _read(_generate(different_seed, tmp_path / 'seed1', xqg_dir, stages)) != sharded


def test_generation_bad_input(trained, tmp_path, prepared):
  _, xqg_dir = trained
  config = conftest.small_config()
  config.generate.languages = ('ja', 'xx')
  with pytest.raises(languages.UnknownLanguageError, match='supported: ar, bn'):
    _generate(config, tmp_path, xqg_dir, prepared[2])
  assert generate_stage.is_degenerate('') and generate_stage.is_degenerate('a a a a b')
  assert not generate_stage.is_degenerate('カント は いつ ？')


def test_pretraining_then_fine_tuning_starts_from_the_pretrained_export(tmp_path, prepared):
  stages = prepared[2]
  config = conftest.small_config()
  config.xqg.pretrain.num_train_steps = 12
  config.xqg.pretrain.learning_rate = 3e-3
  config.xqg.extra_pairs = ('pretraining/questions.jsonl',)
  config.xqg.extra_share = 0.5
  inputs = {'t': '1'}
  pretrain = train_xqg.pretrain(config, tmp_path, data_dir=stages['data_dir'],
                                tokenizer_dir=stages['generator_tokenizer'], inputs=inputs)
  assert pretrain == tmp_path / 'xqg_pretrain'
  manifest = json.loads((pretrain / 'manifest.json').read_text())
  assert manifest['extra']['steps'] == 12 and manifest['extra']['pairs'] > 0
  fine = train_xqg.train(config, tmp_path, data_dir=stages['data_dir'],
                         tfds_dir=stages['tfds_dir'],
                         tokenizer_dir=stages['generator_tokenizer'], inputs=inputs,
                         pretrained_dir=pretrain)
  heldout = json.loads((fine / train_xqg.HELDOUT_JSON).read_text())
  scratch = json.loads((_train(conftest.small_config(), tmp_path / 'scratch', stages)
                        / train_xqg.HELDOUT_JSON).read_text())
  # 'untrained' is the pre-trained export: it has learnt from text before fine-tuning.
  assert heldout['untrained'] < scratch['untrained'] - 1.0
  # Without pre-training configured, the stage does nothing.
  config.xqg.pretrain.num_train_steps = 0
  assert train_xqg.pretrain(config, tmp_path / 'none', data_dir=stages['data_dir'],
                            tokenizer_dir=stages['generator_tokenizer'], inputs=inputs) is None


def test_extra_pairs_take_their_share_of_every_batch():
  item = qgen_data.Example('q', 'ja', 'x', 'y')
  phase = train_xqg.Phase('train_xqg', [item] * 8, [item] * 8, 0.25, 32, 16, 8, 1e-3, 0.0, 1.0,
                          10, 1)
  assert phase.split_batch(1) == (24, 8)
  assert phase.split_batch(8) == (24, 8)
  with pytest.raises(ValueError, match='splits into 24 \\+ 8 rows; each part must be a positive '
                                       'multiple of the 16 processes'):
    phase.split_batch(16)
  alone = train_xqg.Phase('train_xqg', [item] * 8, (), 0.5, 32, 16, 8, 1e-3, 0.0, 1.0, 10, 1)
  assert alone.split_batch(1) == (32, 0)  # no extra pairs: the whole batch is the main pairs


def test_pretraining_and_init_from_are_exclusive(tmp_path, prepared):
  config = conftest.small_config()
  config.xqg.init_from = str(tmp_path / 'some-mt5')
  with pytest.raises(ValueError, match='use one or the other'):
    train_xqg.pretrain(config, tmp_path, data_dir=prepared[2]['data_dir'],
                       tokenizer_dir=prepared[2]['generator_tokenizer'], inputs={})
