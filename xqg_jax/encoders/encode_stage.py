"""The encode stage: the corpus and the query splits through a trained (or any HF) xDR model.

Reads the towers from an HF-format directory (`workdir/xdr/hf/{encoder|query,passage}`, or an
off-the-shelf mBERT/XLM-R directory for zero-shot runs) and writes
`workdir/embeddings/{corpus,queries-dev,queries-test}/`.
"""

import dataclasses
from typing import Sequence

from etils import epath
from flax import linen as nn
import grain
import jax
import ml_collections
import numpy as np

from xqg_jax.data import pipeline
from xqg_jax.data import records
from xqg_jax.data import tfds_builders
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import generated_questions
from xqg_jax.encoders import encode
from xqg_jax.encoders import xdr_model
from xqg_jax.models import hf_bert
from xqg_jax.parallel import partitioning
from xqg_jax.parallel import xla_options


@dataclasses.dataclass(frozen=True)
class Encoder:
  """A loaded bi-encoder: the model, host params, and how to shard them on a mesh."""
  model: nn.Module
  params: dict
  config: ml_collections.ConfigDict

  def param_shardings(self, mesh, rules):
    abstract = jax.eval_shape(
        lambda: self.model.init(jax.random.key(0), xdr_model.dummy_batch(1, 8),
                                xdr_model.dummy_batch(1, 8))['params'])
    with nn.logical_axis_rules(rules):
      specs = nn.get_partition_spec(abstract)
    return partitioning.tree_shardings(specs, mesh, rules, shapes=nn.unbox(abstract))

  def embed_fn(self, method: str):
    return lambda params, batch: self.model.apply({'params': params}, batch, method=method)

  def embed_texts(self, tokenizer, texts: Sequence[str], *, max_len: int,
                  method: str = 'encode_query', batch_size: int = 64) -> np.ndarray:
    """[len(texts), H] float32 embeddings of a few texts, on this process's default device."""
    tokenize = pipeline.Tokenize(tokenizer, max_len)
    jitted = jax.jit(self.embed_fn(method), compiler_options=xla_options.for_backend(
        self.config.xdr.compiler_options))
    out = []
    for start in range(0, len(texts), batch_size):
      chunk = list(texts[start:start + batch_size])
      arrays, _ = tokenize(chunk + [''] * (batch_size - len(chunk)), max_len)
      out.append(np.asarray(jitted(self.params, arrays))[:len(chunk)])
    return np.concatenate(out) if out else np.zeros((0, self.model.encoder.hidden_size),
                                                    np.float32)


def load_encoder(config: ml_collections.ConfigDict, xdr_dir) -> Encoder:
  """The bi-encoder whose towers are HF directories under `xdr_dir/hf`."""
  hf_dir = epath.Path(xdr_dir) / 'hf'
  params, cfg = {}, None
  for name in xdr_model.towers(config):
    cfg, params[name] = hf_bert.load_hf_encoder(str(hf_dir / name))
  cfg = dataclasses.replace(cfg, dtype=config.xdr.dtype)
  return Encoder(xdr_model.bi_encoder_model(config, cfg), params, config)


def _encode_args(config, xdr_dir, tokenizer_dir: str, devices, inputs: dict) -> tuple:
  """(encoder, keyword arguments shared by every `encode.encode` call, tower settings)."""
  encoder = load_encoder(config, xdr_dir)
  tokenizer = tokenizers.load_tokenizer(tokenizer_dir)
  tokenizers.check_vocab(tokenizer, encoder.model.encoder.vocab_size, 'xDR encoder')
  rules = tuple(config.logical_axis_rules)
  common = dict(tokenizer=tokenizer, params=encoder.params,
                param_shardings_fn=lambda mesh: encoder.param_shardings(mesh, rules),
                mesh_spec=config.mesh, devices=devices, rules=rules,
                batch_size=config.xdr.encode_batch_size, inputs=inputs,
                compiler_options=xla_options.for_backend(config.xdr.compiler_options))
  settings = {'pooling': config.xdr.pooling, 'normalize': config.xdr.normalize,
              'dtype': config.xdr.dtype}
  return encoder, common, settings


def run(config: ml_collections.ConfigDict, workdir, *, xdr_dir, data_dir, tfds_dir,
        tokenizer_dir: str, inputs: dict, devices=None) -> dict[str, str]:
  """Encodes the corpus and every query split present; returns {name: directory}.

  `devices` defaults to this process's local devices."""
  encoder, common, settings = _encode_args(config, xdr_dir, tokenizer_dir, devices, inputs)
  out = {}
  corpus = grain.MapDataset.source(tfds_builders.build_and_load(
      'xor_corpus', data_dir, tfds_dir, 'corpus')).map(tfds_builders.decode_passage)
  out['corpus'] = encode.encode(
      epath.Path(workdir) / 'embeddings' / 'corpus', source=corpus,
      text_fn=pipeline.passage_text, id_fn=lambda p: p.id,
      embed_fn=encoder.embed_fn('encode_passage'), max_len=config.data.p_max_len,
      buckets=config.data.length_buckets, num_shards=config.data.num_corpus_shards,
      stage_config={**settings, 'tower': 'passage', 'max_len': config.data.p_max_len},
      **common)
  builder = tfds_builders.build('xor_queries', data_dir, tfds_dir)
  for split in records.EVALUATION_SPLITS:
    if split not in builder.info.splits:
      continue
    queries = grain.MapDataset.source(builder.as_data_source(split)).map(
        tfds_builders.decode_query)
    out[f'queries-{split}'] = encode.encode(
        epath.Path(workdir) / 'embeddings' / f'queries-{split}', source=queries,
        text_fn=lambda q: q.question, id_fn=lambda q: q.id, embed_fn=encoder.embed_fn(
            'encode_query'), max_len=config.data.q_max_len, buckets=(config.data.q_max_len,),
        num_shards=1,
        stage_config={**settings, 'tower': 'query', 'max_len': config.data.q_max_len},
        **common)
  return {name: str(path) for name, path in out.items()}


def encode_generated(config: ml_collections.ConfigDict, workdir, *, xdr_dir, generated_dir,
                     tokenizer_dir: str, inputs: dict, name: str = 'generated',
                     devices=None) -> str:
  """Encodes every question of `generated_dir` with the query tower into `embeddings/{name}`.

  One embedding shard per generated file, so shard s holds the questions of corpus shard s;
  ids are `generated_questions.question_id`s. Questions are short: they are bucketed by length
  up to `data.q_max_len`.
  """
  encoder, common, settings = _encode_args(config, xdr_dir, tokenizer_dir, devices, inputs)
  files = sorted(epath.Path(generated_dir).glob('generated-*.jsonl'))
  source = generated_questions.GeneratedQuestions(files)
  buckets = tuple(b for b in config.data.length_buckets if b < config.data.q_max_len)
  out = encode.encode(
      epath.Path(workdir) / 'embeddings' / name, source=source,
      text_fn=lambda q: q.text, id_fn=lambda q: q.id, embed_fn=encoder.embed_fn('encode_query'),
      max_len=config.data.q_max_len, buckets=buckets + (config.data.q_max_len,),
      num_shards=len(files),
      ranges=source.ranges,
      stage_config={**settings, 'tower': 'query', 'max_len': config.data.q_max_len}, **common)
  return str(out)
