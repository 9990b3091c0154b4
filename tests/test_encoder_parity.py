"""Parity of the Flax BERT / XLM-R encoders with HF PyTorch, checkpoint I/O and bad inputs."""

import dataclasses
import json
import logging

import numpy as np
import pytest

import torch  # CI has it through [test]: a parity test must fail, not skip, without it
import transformers

import jax  # pylint: disable=g-import-not-at-top,g-bad-import-order
import jax.numpy as jnp

from xqg_jax.data import tokenizers
from xqg_jax.layers import attention
from xqg_jax.models import bert
from xqg_jax.models import hf_bert

from tests import hf_testing

SIZES = dict(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=128, max_position_embeddings=64)
HF_MODELS = {
    'bert': (transformers.BertConfig, transformers.BertModel, dict(pad_token_id=0)),
    'xlm-roberta': (transformers.XLMRobertaConfig, transformers.XLMRobertaModel,
                    dict(pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5)),
}
LENGTHS = (16, 11, 5, 1)


def _randomize(model):
  """Random values for every weight, biases and LayerNorms included, so each one matters."""
  generator = torch.Generator().manual_seed(0)
  with torch.no_grad():
    for name, param in model.named_parameters():
      noise = torch.randn(param.shape, generator=generator) * 0.05
      param.copy_(noise + 1.0 if 'LayerNorm.weight' in name else noise)
  return model.eval()


def _hf_config(model_type, **changes):
  config_cls, _, extra = HF_MODELS[model_type]
  return config_cls(**{**SIZES, **extra, **changes})


def _inputs(config):
  """Right-padded ids of LENGTHS, with token types, avoiding the pad id in real tokens."""
  rng = np.random.default_rng(1)
  mask = (np.arange(max(LENGTHS))[None] < np.array(LENGTHS)[:, None]).astype(np.int32)
  ids = np.where(mask, rng.integers(3, config.vocab_size, mask.shape), config.pad_token_id)
  token_types = rng.integers(0, config.type_vocab_size, mask.shape) * mask
  return ids.astype(np.int32), mask, token_types.astype(np.int32)


def _torch_forward(model, ids, mask, token_types):
  with torch.no_grad():
    out = model(input_ids=torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask),
                token_type_ids=torch.tensor(token_types, dtype=torch.long))
  return out.last_hidden_state.numpy(), out.pooler_output


def _flax_forward(config, params, ids, mask, token_types):
  return bert.Encoder(config).apply({'params': params}, ids, mask, token_types)


def _max_diff(a, b):
  return float(np.max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))))


@pytest.fixture(scope='module', params=sorted(HF_MODELS))
def hf_model(request, tmp_path_factory):
  """(model_type, torch model, its save_pretrained directory)."""
  model_type = request.param
  model = _randomize(HF_MODELS[model_type][1](_hf_config(model_type)))
  path = tmp_path_factory.mktemp(model_type)
  model.save_pretrained(path)
  return model_type, model, path


def test_last_hidden_state_and_pooler_match_torch(hf_model):
  _, model, path = hf_model
  config, params = hf_bert.load_hf_encoder(path)
  assert config.add_pooler
  inputs = _inputs(config)
  hidden, pooled = _torch_forward(model, *inputs)
  out = _flax_forward(config, params, *inputs)
  assert isinstance(out, bert.EncoderOutput) and out.last_hidden_state.shape == hidden.shape
  # Padded positions attend to the same real keys in both, so they match as well.
  assert _max_diff(out.last_hidden_state, hidden) < 1e-5
  assert _max_diff(out.pooler_output, pooled) < 1e-5


def test_export_loads_in_transformers_with_identical_outputs(hf_model, tmp_path):
  model_type, _, path = hf_model
  config, params = hf_bert.load_hf_encoder(path)
  hf_bert.save_hf_encoder(config, params, tmp_path / 'export')
  hf_bert.save_hf_encoder(config, params, tmp_path / 'export')  # Replaces it.
  assert sorted(p.name for p in tmp_path.iterdir()) == ['export']
  exported = json.loads((tmp_path / 'export' / 'config.json').read_text())
  assert exported['model_type'] == model_type
  reloaded, info = HF_MODELS[model_type][1].from_pretrained(tmp_path / 'export',
                                                            output_loading_info=True)
  assert not any(info.values()), info
  inputs = _inputs(config)
  hidden, pooled = _torch_forward(reloaded.eval(), *inputs)
  out = _flax_forward(config, params, *inputs)
  assert _max_diff(out.last_hidden_state, hidden) < 1e-5
  assert _max_diff(out.pooler_output, pooled) < 1e-5
  assert bert.EncoderConfig.from_hf_dict(exported, add_pooler=True) == config


def test_bfloat16_is_close_to_float32(hf_model):
  _, _, path = hf_model
  config, params = hf_bert.load_hf_encoder(path, dtype='bfloat16')
  inputs = _inputs(config)
  low = _flax_forward(config, params, *inputs)
  high = _flax_forward(dataclasses.replace(config, dtype='float32'), params, *inputs)
  assert low.last_hidden_state.dtype == jnp.bfloat16
  assert all(leaf.dtype == np.float32 for leaf in jax.tree.leaves(params))
  real = inputs[1].astype(bool)
  a = np.asarray(low.last_hidden_state, np.float32)[real]
  b = np.asarray(high.last_hidden_state)[real]
  assert np.linalg.norm(a - b) / np.linalg.norm(b) < 5e-2


def test_masked_lm_checkpoints_in_bin_and_sharded_layouts(tmp_path, caplog):
  """Prefixed keys (bert. / roberta.) load; MLM heads are skipped and logged; no pooler."""
  bert_mlm = _randomize(transformers.BertForMaskedLM(_hf_config('bert')))
  bert_mlm.config.save_pretrained(tmp_path / 'bin')
  torch.save(bert_mlm.state_dict(), tmp_path / 'bin' / 'pytorch_model.bin')
  xlmr_mlm = _randomize(transformers.XLMRobertaForMaskedLM(_hf_config('xlm-roberta')))
  xlmr_mlm.save_pretrained(tmp_path / 'sharded', max_shard_size='40KB')
  assert (tmp_path / 'sharded' / 'model.safetensors.index.json').exists()

  for name, model in (('bin', bert_mlm), ('sharded', xlmr_mlm)):
    with caplog.at_level(logging.INFO, logger='absl'):
      config, params = hf_bert.load_hf_encoder(tmp_path / name)
    assert not config.add_pooler
    assert ('cls.predictions' if name == 'bin' else 'lm_head.dense.weight') in caplog.text
    inputs = _inputs(config)
    hidden, _ = _torch_forward(model.base_model, *inputs)
    assert _max_diff(_flax_forward(config, params, *inputs), hidden) < 1e-5


def test_pooler_can_be_skipped(hf_model):
  _, _, path = hf_model
  config, params = hf_bert.load_hf_encoder(path, add_pooler=False)
  assert not config.add_pooler and 'pooler' not in params


def test_attention_dropout_path_matches_fused_attention():
  q, k, v = jax.random.normal(jax.random.key(0), (3, 2, 7, 4, 8))
  mask = attention.padding_mask(jnp.array([[1] * 7, [1] * 3 + [0] * 4]))
  bias = jax.random.normal(jax.random.key(1), (1, 4, 7, 7))
  attend = jax.jit(attention.dot_product_attention, static_argnames='dropout_rate')
  fused = attend(q, k, v, mask=mask, bias=bias)
  # A drop probability that rounds to 0 in fp32 exercises the explicit path with no drops.
  explicit = attend(q, k, v, mask=mask, bias=bias, dropout_rate=1e-9,
                    dropout_rng=jax.random.key(2))
  assert _max_diff(fused, explicit) < 1e-6


def test_training_mode_uses_dropout_and_remat_matches():
  config = bert.EncoderConfig(**{**SIZES, 'num_hidden_layers': 1})
  ids, mask, token_types = _inputs(config)
  variables = bert.Encoder(config).init(jax.random.key(0), ids, mask, token_types)

  def loss(variables, remat):
    hidden = bert.Encoder(dataclasses.replace(config, remat=remat)).apply(
        variables, ids, mask, token_types, deterministic=False,
        rngs={'dropout': jax.random.key(3)})
    return jnp.sum(hidden ** 2), hidden

  grad_fn = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)
  (_, hidden), grads = grad_fn(variables, False)
  (_, hidden_remat), grads_remat = grad_fn(variables, True)
  eval_hidden = bert.Encoder(config).apply(variables, ids, mask, token_types)
  assert _max_diff(hidden, eval_hidden) > 1e-2
  assert _max_diff(hidden, hidden_remat) < 1e-5
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_remat)):
    assert _max_diff(a, b) < 1e-4


# The config.json files of bert-base-multilingual-cased and xlm-roberta-base.
MBERT_CONFIG = {
    'architectures': ['BertForMaskedLM'], 'attention_probs_dropout_prob': 0.1,
    'directionality': 'bidi', 'hidden_act': 'gelu', 'hidden_dropout_prob': 0.1,
    'hidden_size': 768, 'initializer_range': 0.02, 'intermediate_size': 3072,
    'layer_norm_eps': 1e-12, 'max_position_embeddings': 512, 'model_type': 'bert',
    'num_attention_heads': 12, 'num_hidden_layers': 12, 'pad_token_id': 0,
    'pooler_fc_size': 768, 'pooler_num_attention_heads': 12, 'pooler_num_fc_layers': 3,
    'pooler_size_per_head': 128, 'pooler_type': 'first_token_transform', 'type_vocab_size': 2,
    'vocab_size': 119547}
XLMR_CONFIG = {
    'architectures': ['XLMRobertaForMaskedLM'], 'attention_probs_dropout_prob': 0.1,
    'bos_token_id': 0, 'eos_token_id': 2, 'hidden_act': 'gelu', 'hidden_dropout_prob': 0.1,
    'hidden_size': 768, 'initializer_range': 0.02, 'intermediate_size': 3072,
    'layer_norm_eps': 1e-05, 'max_position_embeddings': 514, 'model_type': 'xlm-roberta',
    'num_attention_heads': 12, 'num_hidden_layers': 12, 'output_past': True,
    'pad_token_id': 1, 'position_embedding_type': 'absolute',
    'transformers_version': '4.17.0.dev0', 'type_vocab_size': 1, 'use_cache': True,
    'vocab_size': 250002}


def test_real_configs_match_presets():
  assert bert.EncoderConfig.from_hf_dict(MBERT_CONFIG) == bert.preset_config('mbert-base')
  assert bert.EncoderConfig.from_hf_dict(XLMR_CONFIG) == bert.preset_config('xlmr-base')
  assert bert.preset_config('mini', vocab_size=500).hidden_size == 128
  with pytest.raises(ValueError, match='unknown encoder preset'):
    bert.preset_config('huge')


# Bad inputs.


@pytest.fixture
def bert_dir(tmp_path):
  """A BERT checkpoint to damage: (directory, config dict, tensors)."""
  return hf_testing.saved(_randomize(transformers.BertModel(_hf_config('bert'))),
                          tmp_path / 'ckpt')


@pytest.mark.parametrize('change, message', [
    ({'position_embedding_type': 'relative_key'}, "position_embedding_type='relative_key'"),
    ({'is_decoder': True}, 'is_decoder=True'),
    ({'chunk_size_feed_forward': 16}, 'chunk_size_feed_forward=16'),
    ({'model_type': 'gpt2'}, "model_type='gpt2'"),
    ({'rotary_dim': 8}, "unknown HF config keys \\['rotary_dim'\\]"),
    ({'hidden_act': 'swish'}, "hidden_act='swish'"),
    ({'num_attention_heads': 5}, 'multiple of num_attention_heads=5'),
])
def test_bad_config(bert_dir, change, message):
  path, config, _ = bert_dir
  hf_testing.rewrite(path, config={**config, **change})
  with pytest.raises(ValueError, match=message):
    hf_bert.load_hf_encoder(path)


def test_missing_and_corrupt_files(bert_dir, tmp_path):
  path, _, _ = bert_dir
  data = (path / 'model.safetensors').read_bytes()
  (path / 'model.safetensors').write_bytes(data[:len(data) // 2])
  with pytest.raises(ValueError, match='model.safetensors is not a valid safetensors'):
    hf_bert.load_hf_encoder(path)
  (path / 'model.safetensors').unlink()
  with pytest.raises(FileNotFoundError, match='none of the weight files'):
    hf_bert.load_hf_encoder(path)
  (path / 'pytorch_model.bin').write_bytes(b'not a zip file')
  with pytest.raises(ValueError, match='pytorch_model.bin is not a readable PyTorch'):
    hf_bert.load_hf_encoder(path)
  (path / 'config.json').write_text('{"model_type": ')
  with pytest.raises(ValueError, match='config.json is not valid JSON'):
    hf_bert.load_hf_encoder(path)
  (path / 'config.json').unlink()
  with pytest.raises(FileNotFoundError, match='config.json does not exist'):
    hf_bert.load_hf_encoder(path)
  with pytest.raises(FileNotFoundError, match='does not exist'):
    hf_bert.load_hf_encoder(tmp_path / 'nowhere')
  with pytest.raises(FileNotFoundError, match='Hugging Face hub'):  # Offline in tests.
    hf_bert.load_hf_encoder('no-such-org/no-such-encoder')
  # A relative path of a run (a deleted export) is a path, not a hub id.
  with pytest.raises(FileNotFoundError, match='checkpoint directory no-such-run/xdr/hf/encoder '
                                              'does not exist'):
    hf_bert.load_hf_encoder('no-such-run/xdr/hf/encoder')


def test_missing_unexpected_and_misshapen_tensors(bert_dir):
  path, config, tensors = bert_dir
  tensors = dict(tensors)
  del tensors['encoder.layer.1.output.dense.bias']
  tensors['encoder.layer.0.attention.self.rotary.weight'] = torch.zeros(2)
  tensors['roberta.pooler.dense.bias'] = torch.zeros(2)
  hf_testing.rewrite(path, tensors=tensors)
  with pytest.raises(ValueError) as error:
    hf_bert.load_hf_encoder(path, add_pooler=True)
  for text in ('missing tensor encoder.layer.1.output.dense.bias (64,)',
               'unexpected tensor encoder.layer.0.attention.self.rotary.weight',
               'unexpected tensor roberta.pooler.dense.bias'):
    assert text in str(error.value)
  hf_testing.rewrite(path, config={**config, 'intermediate_size': 96})
  with pytest.raises(ValueError, match=r'tensor encoder.layer.0.intermediate.dense.weight has '
                                       r'shape \(128, 64\), expected \(96, 64\)'):
    hf_bert.load_hf_encoder(path)


def test_export_rejects_params_of_another_config(hf_model, tmp_path):
  _, _, path = hf_model
  config, params = hf_bert.load_hf_encoder(path)
  with pytest.raises(ValueError, match="missing \\['layer_2/attention/key/bias'"):
    hf_bert.save_hf_encoder(dataclasses.replace(config, num_hidden_layers=3), params,
                                  tmp_path / 'out')
  assert not (tmp_path / 'out').exists()


def test_tokenizer_vocab_mismatch(tmp_path):
  config = bert.EncoderConfig(**SIZES)
  # 400 distinct characters: the WordPiece vocabulary outgrows the model's 300 rows.
  texts = [' '.join(chr(0x4E00 + i + j) for j in range(20)) for i in range(0, 400, 20)]
  tokenizer = tokenizers.train_wordpiece(texts, vocab_size=1000, out_dir=tmp_path / 'tok')
  with pytest.raises(ValueError, match='300 vocabulary rows'):
    tokenizers.check_vocab(tokenizer, config.vocab_size, 'encoder')
  tokenizers.check_vocab(tokenizer, len(tokenizer), 'encoder')
