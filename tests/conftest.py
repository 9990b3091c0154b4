"""Test setup: 8 simulated CPU devices (set before JAX is imported anywhere)."""

import os

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

import pytest  # noqa: E402  (after the environment above)


def small_config(**xdr_overrides):
  """`tiny` shrunk for tests: 60 entities, short inputs, a tiny encoder."""
  from xqg_jax.configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config('entities=60,queries=24')
  config.synthetic.dev_queries_per_language = 4
  config.synthetic.test_queries_per_language = 4
  config.synthetic.pretraining_entities = 100
  config.tokenizer.encoder_vocab_size = 1500
  config.tokenizer.generator_vocab_size = 1500
  config.data.q_max_len = 16
  config.data.p_max_len = 48
  config.data.length_buckets = (16, 32, 48)
  config.data.num_corpus_shards = 3
  config.xdr.preset = 'mini'
  config.xdr.batch_size = 8
  config.xdr.group_size = 2
  config.xdr.dropout = 0.0
  config.xdr.num_train_steps = 4
  config.xdr.checkpoint_every = 2
  config.xdr.log_every = 1
  config.xdr.encode_batch_size = 16
  config.xqg.input_max_len = 64
  config.xqg.target_max_len = 16
  config.xqg.length_buckets = ((32, 16), (64, 16))
  config.xqg.batch_size = 8
  config.xqg.num_train_steps = 4
  config.xqg.checkpoint_every = 2
  config.xqg.log_every = 1
  config.xqg.pretrain.num_train_steps = 4
  config.xqg.pretrain.batch_size = 8
  # Questions in two languages keep the tests fast; queries in the other seven search the
  # plain passages under language-matched fusion.
  config.generate.languages = ('ja', 'km')
  config.augment.languages = ('ja', 'km')
  config.generate.num_queries = 2
  config.generate.max_new_tokens = 8
  config.generate.batch_size = 8
  config.eval.sweep_alphas = (0.1, 0.5)
  config.eval.sweep_num_queries = (1, 2)
  for key, value in xdr_overrides.items():
    config.xdr[key] = value
  return config


@pytest.fixture(scope='session')
def prepared(tmp_path_factory):
  """(config, workdir, state) after the data, tokenizer and dataset stages of `small_config`."""
  from launch import stages  # pylint: disable=g-import-not-at-top
  workdir = tmp_path_factory.mktemp('prepared')
  config = small_config()
  return config, workdir, stages.run(config, workdir, until='datasets')
