"""Scale test: a 1M+ passage synthetic corpus, streamed; model sizes as in `base`."""

from xqg_jax.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, entities=600_000)
  c = common.base_config()
  c.name = 'large'
  c.data.num_corpus_shards = 64
  c.synthetic.num_entities = arg.entities
  c.synthetic.train_queries_per_language = 50_000
  c.synthetic.dev_queries_per_language = 2_000
  c.synthetic.test_queries_per_language = 2_000
  c.tokenizer.train_sample_size = 500_000
  return c
