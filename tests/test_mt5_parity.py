"""Parity of the Flax mT5 / T5 with HF PyTorch, KV-cached greedy decoding, checkpoint I/O."""

import dataclasses
import json

import numpy as np
import pytest
import safetensors

import torch  # CI has it through [test]: a parity test must fail, not skip, without it
import transformers

import jax  # pylint: disable=g-import-not-at-top,g-bad-import-order
import jax.numpy as jnp

from xqg_jax.generation import decoding
from xqg_jax.models import hf_t5
from xqg_jax.models import t5

from tests import hf_testing

SIZES = dict(vocab_size=320, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2,
             num_heads=4, relative_attention_num_buckets=32, relative_attention_max_distance=128)
# mT5 (gated-GELU, untied head), mT5 as transformers 5 makes one (head tied to the shared
# embedding, unscaled; saved without lm_head.weight) and original-T5-style (ReLU, tied and
# scaled head).
HF_MODELS = {
    'mt5': (transformers.MT5Config, transformers.MT5ForConditionalGeneration, {}),
    'mt5_tied': (transformers.MT5Config, transformers.MT5ForConditionalGeneration, {}),
    't5': (transformers.T5Config, transformers.T5ForConditionalGeneration,
           dict(feed_forward_proj='relu', tie_word_embeddings=True, decoder_start_token_id=0)),
}
LENGTHS = (14, 9, 4, 1)  # Encoder inputs, right-padded.
NEW_TOKENS = 32


def _hf_model(name):
  """A random-weight HF model; 'mt5''s head is untied from the embedding, norms are random."""
  config_cls, model_cls, extra = HF_MODELS[name]
  torch.manual_seed(0)
  model = model_cls(config_cls(**SIZES, **extra))
  with torch.no_grad():
    if name == 'mt5':
      model.lm_head.weight = torch.nn.Parameter(torch.randn(model.lm_head.weight.shape))
    for param_name, param in model.named_parameters():
      if 'layer_norm' in param_name:
        param.copy_(1.0 + 0.2 * torch.randn(param.shape))
  return model.eval()


def _inputs(vocab_size=SIZES['vocab_size']):
  rng = np.random.default_rng(1)
  mask = (np.arange(max(LENGTHS))[None] < np.array(LENGTHS)[:, None]).astype(np.int32)
  ids = np.where(mask, rng.integers(2, vocab_size, mask.shape), 0).astype(np.int32)
  decoder_ids = rng.integers(2, vocab_size, (len(LENGTHS), 11)).astype(np.int32)
  decoder_ids[:, 0] = 0
  return ids, mask, decoder_ids


def _torch_forward(model, ids, mask, decoder_ids):
  with torch.no_grad():
    out = model(input_ids=torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask),
                decoder_input_ids=torch.tensor(decoder_ids, dtype=torch.long))
  return out.encoder_last_hidden_state.numpy(), out.logits.numpy()


def _flax_forward(config, params, ids, mask, decoder_ids):
  model = t5.T5(config)
  encoded = model.apply({'params': params}, ids, mask, method=model.encode)
  return encoded, model.apply({'params': params}, ids, mask, decoder_ids)


def _max_diff(a, b):
  return float(np.max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))))


@pytest.fixture(scope='module', params=sorted(HF_MODELS))
def hf_model(request, tmp_path_factory):
  """(name, torch model, its save_pretrained directory)."""
  model = _hf_model(request.param)
  path = tmp_path_factory.mktemp(request.param)
  model.save_pretrained(path)
  return request.param, model, path


def test_encoder_states_and_logits_match_torch(hf_model):
  name, model, path = hf_model
  config, params = hf_t5.load_hf_t5(path)
  assert config.model_type == name.split('_')[0] and config.tie_word_embeddings == (name == 't5')
  if name == 'mt5_tied':
    assert model.lm_head.weight is model.shared.weight
    with safetensors.safe_open(path / 'model.safetensors', 'np') as saved:
      assert hf_t5.LM_HEAD not in saved.keys()  # what a tied mT5 checkpoint holds
  assert ('lm_head' in params) != config.tie_word_embeddings
  inputs = _inputs()
  hidden, logits = _torch_forward(model, *inputs)
  our_hidden, our_logits = _flax_forward(config, params, *inputs)
  # Padded encoder positions attend to the same real keys in both, so they match too.
  assert _max_diff(our_hidden, hidden) < 1e-4
  assert _max_diff(our_logits, logits) < 1e-4
  assert np.abs(logits).max() > 1.0  # Logits that matter, not near-zero noise.


def test_kv_cached_greedy_decoding_matches_torch_generate(hf_model):
  _, model, path = hf_model
  config, params = hf_t5.load_hf_t5(path)
  ids, mask, _ = _inputs()
  # No EOS for torch, so all 32 steps run; ours stops a row at EOS (then pads).
  with torch.no_grad():
    expected = model.generate(input_ids=torch.tensor(ids, dtype=torch.long),
                              attention_mask=torch.tensor(mask), do_sample=False,
                              max_new_tokens=NEW_TOKENS, eos_token_id=None).numpy()[:, 1:]
  out = decoding.generate(config, params, ids, mask, np.arange(len(ids)),
                          decoding.SamplingConfig(max_new_tokens=NEW_TOKENS))
  tokens, lengths = np.asarray(out.tokens[:, 0]), np.asarray(out.lengths[:, 0])
  assert tokens.shape == expected.shape == (len(ids), NEW_TOKENS)
  assert (lengths == NEW_TOKENS).sum() >= 3  # Most rows compare all 32 steps.
  for row, length in enumerate(lengths):
    np.testing.assert_array_equal(tokens[row, :length], expected[row, :length])
    assert (tokens[row, length:] == config.pad_token_id).all()


def test_export_loads_in_transformers_with_identical_logits(hf_model, tmp_path):
  name, model, path = hf_model
  config, params = hf_t5.load_hf_t5(path)
  hf_t5.save_hf_t5(config, params, tmp_path / 'export')
  hf_t5.save_hf_t5(config, params, tmp_path / 'export')  # Replaces it.
  assert sorted(p.name for p in tmp_path.iterdir()) == ['export']
  exported = json.loads((tmp_path / 'export' / 'config.json').read_text())
  assert t5.T5Config.from_hf_dict(exported) == config
  reloaded, info = HF_MODELS[name][1].from_pretrained(tmp_path / 'export',
                                                      output_loading_info=True)
  assert not any(info.values()), info
  inputs = _inputs()
  hidden, logits = _torch_forward(reloaded.eval(), *inputs)
  for expected, actual in zip(_torch_forward(model, *inputs), (hidden, logits)):
    np.testing.assert_array_equal(actual, expected)  # The weights round-trip exactly.
  our_hidden, our_logits = _flax_forward(config, params, *inputs)
  assert _max_diff(our_hidden, hidden) < 1e-4
  assert _max_diff(our_logits, logits) < 1e-4


def test_bfloat16_is_close_to_float32(hf_model):
  _, _, path = hf_model
  config, params = hf_t5.load_hf_t5(path, dtype='bfloat16')
  inputs = _inputs()
  low_hidden, low = _flax_forward(config, params, *inputs)
  _, high = _flax_forward(dataclasses.replace(config, dtype='float32'), params, *inputs)
  assert low_hidden.dtype == jnp.bfloat16 and low.dtype == jnp.float32
  assert all(leaf.dtype == np.float32 for leaf in jax.tree.leaves(params))
  assert np.linalg.norm(low - high) / np.linalg.norm(high) < 5e-2


def test_pytorch_bin_with_embedding_copies_loads(tmp_path):
  """torch state dicts repeat the shared embedding as `{encoder,decoder}.embed_tokens`."""
  model = _hf_model('mt5')
  model.config.save_pretrained(tmp_path)
  state = model.state_dict()
  assert 'encoder.embed_tokens.weight' in state
  torch.save(state, tmp_path / 'pytorch_model.bin')
  config, params = hf_t5.load_hf_t5(tmp_path)
  inputs = _inputs()
  assert _max_diff(_flax_forward(config, params, *inputs)[1],
                   _torch_forward(model, *inputs)[1]) < 1e-4


def test_training_mode_dropout_and_remat():
  config = t5.T5Config(**{**SIZES, 'num_layers': 1, 'num_decoder_layers': 1})
  ids, mask, decoder_ids = _inputs()
  variables = jax.jit(t5.T5(config).init)(jax.random.key(0), ids, mask, decoder_ids)

  def loss(variables, remat):
    logits = t5.T5(dataclasses.replace(config, remat=remat)).apply(
        variables, ids, mask, decoder_ids, deterministic=False,
        rngs={'dropout': jax.random.key(3)})
    return jnp.mean(logits ** 2), logits

  grad_fn = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)
  (_, logits), grads = grad_fn(variables, False)
  (_, logits_remat), grads_remat = grad_fn(variables, True)
  assert _max_diff(logits, t5.T5(config).apply(variables, ids, mask, decoder_ids)) > 1e-2
  assert _max_diff(logits, logits_remat) < 1e-5
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_remat)):
    assert _max_diff(a, b) < 1e-4


# The config.json files of google/mt5-small and google/mt5-base.
MT5_SMALL = {
    'architectures': ['MT5ForConditionalGeneration'], 'd_ff': 1024, 'd_kv': 64, 'd_model': 512,
    'decoder_start_token_id': 0, 'dropout_rate': 0.1, 'eos_token_id': 1,
    'feed_forward_proj': 'gated-gelu', 'initializer_factor': 1.0, 'is_encoder_decoder': True,
    'layer_norm_epsilon': 1e-06, 'model_type': 'mt5', 'num_decoder_layers': 8, 'num_heads': 6,
    'num_layers': 8, 'pad_token_id': 0, 'relative_attention_num_buckets': 32,
    'tie_word_embeddings': False, 'tokenizer_class': 'T5Tokenizer',
    'transformers_version': '4.10.0.dev0', 'use_cache': True, 'vocab_size': 250112}
MT5_BASE = {**MT5_SMALL, 'd_ff': 2048, 'd_model': 768, 'num_decoder_layers': 12,
            'num_heads': 12, 'num_layers': 12}


def test_real_configs_match_presets():
  assert t5.T5Config.from_hf_dict(MT5_SMALL) == t5.preset_config('mt5-small')
  assert t5.T5Config.from_hf_dict(MT5_BASE) == t5.preset_config('mt5-base')
  # transformers 5 writes tie_word_embeddings=True for every mT5; it means untied there.
  assert not t5.T5Config.from_hf_dict({**MT5_SMALL, 'tie_word_embeddings': True}
                                      ).tie_word_embeddings
  assert t5.preset_config('tiny', vocab_size=500).d_model == 256
  with pytest.raises(ValueError, match='unknown T5 preset'):
    t5.preset_config('huge')


# Bad inputs.


@pytest.fixture
def mt5_dir(tmp_path):
  """An mT5 checkpoint to damage: (directory, config dict, tensors)."""
  return hf_testing.saved(_hf_model('mt5'), tmp_path / 'ckpt')


@pytest.mark.parametrize('change, message', [
    ({'model_type': 'bart'}, "model_type='bart'"),
    ({'feed_forward_proj': 'gated-swish'}, "feed_forward_proj='gated-swish'"),
    ({'feed_forward_proj': 'double-gated-gelu'}, "feed_forward_proj='double-gated-gelu'"),
    ({'is_encoder_decoder': False}, 'is_encoder_decoder=False'),
    ({'tie_encoder_decoder': True}, 'tie_encoder_decoder=True'),
    ({'dense_act_fn': 'relu'}, "dense_act_fn='relu' disagrees"),
    ({'rotary_dim': 8}, "unknown HF config keys \\['rotary_dim'\\]"),
    ({'eos_token_id': 999}, 'eos_token_id=999'),
])
def test_bad_config(mt5_dir, change, message):
  path, config, _ = mt5_dir
  hf_testing.rewrite(path, config={**config, **change})
  with pytest.raises(ValueError, match=message):
    hf_t5.load_hf_t5(path)


def test_missing_unexpected_misshapen_and_corrupt(mt5_dir):
  path, config, tensors = mt5_dir
  damaged = dict(tensors)
  del damaged['decoder.block.1.layer.2.DenseReluDense.wo.weight']
  damaged['encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight'] = torch.zeros(2)
  damaged['decoder.embed_tokens.weight'] = torch.zeros_like(tensors['shared.weight'])
  hf_testing.rewrite(path, tensors={k: v for k, v in damaged.items() if k != 'decoder.embed_tokens.weight'})
  with pytest.raises(ValueError) as error:
    hf_t5.load_hf_t5(path)
  for text in ('missing tensor decoder.block.1.layer.2.DenseReluDense.wo.weight (64, 128)',
               'unexpected tensor encoder.block.1.layer.0.SelfAttention.relative_attention_bias'):
    assert text in str(error.value)
  hf_testing.rewrite(path, tensors=damaged)
  with pytest.raises(ValueError, match='decoder.embed_tokens.weight differs from shared.weight'):
    hf_t5.load_hf_t5(path)
  hf_testing.rewrite(path, config={**config, 'd_ff': 96}, tensors=tensors)
  with pytest.raises(ValueError, match=r'tensor encoder.block.0.layer.1.DenseReluDense.wi_0.weight '
                                       r'has shape \(128, 64\), expected \(96, 64\)'):
    hf_t5.load_hf_t5(path)
  hf_testing.rewrite(path, config={**config, 'model_type': 't5'})  # Tied, but lm_head differs.
  with pytest.raises(ValueError, match='lm_head.weight differs from shared.weight but the config'):
    hf_t5.load_hf_t5(path)
  data = (path / 'model.safetensors').read_bytes()
  (path / 'model.safetensors').write_bytes(data[:len(data) // 2])
  with pytest.raises(ValueError, match='model.safetensors is not a valid safetensors'):
    hf_t5.load_hf_t5(path)


def test_export_rejects_params_of_another_config(tmp_path):
  config = t5.T5Config(**SIZES)
  ids, mask, decoder_ids = _inputs()
  params = jax.eval_shape(t5.T5(config).init, jax.random.key(0), ids, mask, decoder_ids)['params']
  with pytest.raises(ValueError, match="missing \\['decoder/layer_2/"):
    hf_t5.save_hf_t5(dataclasses.replace(config, num_decoder_layers=3), params, tmp_path / 'out')
  assert not (tmp_path / 'out').exists()
