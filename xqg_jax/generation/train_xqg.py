"""xQG training: mT5 fine-tuned on (prompt with passage, language) -> question, resumable.

Writes under `workdir/xqg/`: `checkpoints/`, `metrics.jsonl`, and on completion `hf/` (an
`MT5ForConditionalGeneration` checkpoint), `heldout.json` (teacher-forced loss on the dev pairs
before and after training) and the stage manifest.
"""

import dataclasses
import json
from typing import Sequence

from etils import epath
from flax import linen as nn
import grain
import jax
import ml_collections
import numpy as np

from xqg_jax.data import errors
from xqg_jax.data import tfds_builders
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.generation import hf_t5
from xqg_jax.generation import prompts
from xqg_jax.generation import qgen_data
from xqg_jax.generation import t5
from xqg_jax.generation import xqg_step
from xqg_jax.io import atomic
from xqg_jax.io import stage
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import multihost
from xqg_jax.parallel import partitioning
from xqg_jax.training import optimizer
from xqg_jax.training import trainer

HELDOUT_JSON = 'heldout.json'
_BATCH_KEYS = ('input_ids', 'attention_mask', 'decoder_input_ids', 'labels', 'weights')


def model_config(config: ml_collections.ConfigDict, tokenizer) -> tuple[t5.T5Config,
                                                                          dict | None]:
  """(architecture, HF params or None) for `config.xqg` and the generator tokenizer."""
  xqg = config.xqg
  overrides = {'dtype': xqg.dtype, 'dropout_rate': xqg.dropout}
  if xqg.init_from:
    cfg, params = hf_t5.load_hf_t5(xqg.init_from, **overrides)
  else:
    cfg, params = t5.preset_config(xqg.preset, vocab_size=len(tokenizer),
                                   pad_token_id=tokenizer.pad_token_id,
                                   eos_token_id=tokenizer.eos_token_id,
                                   decoder_start_token_id=tokenizer.pad_token_id,
                                   **overrides), None
  tokenizers.check_vocab(tokenizer, cfg.vocab_size, f'xQG model ({xqg.init_from or xqg.preset})')
  return cfg, params


def heldout_examples(data_dir, languages: Sequence[str], policy) -> list[qgen_data.Example]:
  """(prompt with the positive passage, question) for every dev question with a qrel."""
  data_dir = epath.Path(data_dir)
  if not (data_dir / 'qrels/dev.txt').exists():
    return []
  positives = {}
  for qrel in qrels_format.read_qrels(data_dir / 'qrels/dev.txt', policy):
    if qrel.relevance > 0:
      positives.setdefault(qrel.query_id, qrel.docid)
  wanted = set(positives.values())
  passages = {p.id: p for p in corpus_format.read_corpus(data_dir / 'corpus.tsv', policy,
                                                         check_duplicates=False)
              if p.id in wanted}
  return [qgen_data.Example(q.id, q.lang, prompts.prompt(q.lang, passages[positives[q.id]].title,
                                                         passages[positives[q.id]].text),
                            q.question)
          for q in queries_format.read_queries(data_dir / 'queries/dev.jsonl', policy)
          if q.id in positives and q.lang in languages]


def heldout_loss(model, params, items, tokenizer, config, mesh, rules) -> float | None:
  """Teacher-forced token loss over `items` (deterministic, padding rows weighted 0)."""
  if not items:
    return None
  xqg = config.xqg
  batches = qgen_data.train_batches(
      items, tokenizer, input_max_len=xqg.input_max_len, target_max_len=xqg.target_max_len,
      decoder_start_id=model.config.decoder_start_token_id, batch_size=xqg.batch_size, seed=0,
      epoch=0, drop_remainder=False, process_index=jax.process_index(),
      process_count=jax.process_count())

  @jax.jit
  def sums(params, batch):
    logits = model.apply({'params': params}, batch['input_ids'], batch['attention_mask'],
                         batch['decoder_input_ids'])
    loss, metrics = xqg_step.token_loss(logits, batch['labels'], batch['weights'])
    return loss * metrics['target_tokens'], metrics['target_tokens']

  total = tokens = 0.0
  for batch in batches:
    s, n = sums(params, partitioning.shard_host_batch({k: batch[k] for k in _BATCH_KEYS},
                                                      mesh, rules))
    total, tokens = total + float(s), tokens + float(n)
  return total / max(tokens, 1.0)


def train(config: ml_collections.ConfigDict, workdir, *, data_dir, tfds_dir, tokenizer_dir: str,
          inputs: dict, stop_at: int | None = None) -> epath.Path:
  """Trains (or resumes) the generator; returns `workdir/xqg`."""
  out = epath.Path(workdir) / 'xqg'
  xqg = config.xqg
  if stage.is_done(out, config=xqg.to_dict(), inputs=inputs):
    return out
  policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
  tokenizer = tokenizers.load_tokenizer(tokenizer_dir)
  cfg, pretrained = model_config(config, tokenizer)
  model = t5.T5(cfg)
  mesh = mesh_lib.create_mesh(config.mesh)
  rules = tuple(config.logical_axis_rules)
  langs = {q.id: q.lang for q in queries_format.read_queries(
      epath.Path(data_dir) / 'queries/train.jsonl', policy)}
  groups = grain.MapDataset.source(tfds_builders.build_and_load(
      'xor_train_groups', data_dir, tfds_dir, 'train')).map(tfds_builders.decode_train_group)
  items = qgen_data.rebalance(qgen_data.examples(groups, langs, config.generate.languages),
                             xqg.language_alpha, config.seed)
  per_epoch = trainer.steps_per_epoch(len(items), xqg.batch_size)
  total = trainer.total_steps(xqg.num_train_steps, xqg.epochs, per_epoch)
  warmup = int(xqg.warmup_ratio * total)
  tx = optimizer.make(xqg.optimizer, xqg.learning_rate, total, warmup, xqg.weight_decay,
                      xqg.max_grad_norm)
  lr = optimizer.schedule(xqg.learning_rate, total, warmup)
  dummy = np.zeros((1, 8), np.int32)

  def init_params(rng):
    params = model.init(rng, dummy, np.ones_like(dummy), dummy)['params']
    if 'lm_head' not in params:
      return params
    # From scratch, T5's std-1 head gives logits of std sqrt(d_model) (untrained loss 41 vs
    # ln(vocab) 8.3 for `mini`); fan-in scaling starts them near uniform.
    return {**params, 'lm_head': jax.tree.map(lambda w: w * cfg.d_model ** -0.5,
                                              params['lm_head'])}

  host_batch = trainer.batches_by_step(lambda epoch: qgen_data.train_batches(
      items, tokenizer, input_max_len=xqg.input_max_len, target_max_len=xqg.target_max_len,
      decoder_start_id=cfg.decoder_start_token_id, batch_size=xqg.batch_size,
      seed=config.seed, epoch=epoch, process_index=jax.process_index(),
      process_count=jax.process_count()), per_epoch)

  def batch_at(step: int) -> dict:
    batch = host_batch(step)
    return partitioning.shard_host_batch({k: batch[k] for k in _BATCH_KEYS}, mesh, rules)

  heldout = heldout_examples(data_dir, config.generate.languages, policy)
  state = trainer.fit(
      out, seed=config.seed, mesh=mesh, rules=rules, init_params=init_params, tx=tx,
      learning_rate=lr, make_step=lambda: xqg_step.make_train_step(model, tx, seed=config.seed),
      batch_at=batch_at,
      schedule=trainer.Schedule(total, xqg.checkpoint_every, xqg.keep_checkpoints,
                                xqg.log_every, xqg.batch_size),
      pretrained=pretrained, stop_at=stop_at)
  if int(state.step) < total:
    return out
  params = jax.device_get(state.params)
  untrained = pretrained if pretrained is not None else jax.device_get(
      nn.unbox(init_params(jax.random.key(config.seed))))
  with jax.set_mesh(mesh):  # On every process: each holds its share of the held-out batches.
    losses = {'untrained': heldout_loss(model, untrained, heldout, tokenizer, config, mesh,
                                        rules),
              'trained': heldout_loss(model, params, heldout, tokenizer, config, mesh, rules),
              'examples': len(heldout)}

  def produce(directory):
    hf_t5.save_hf_t5(cfg, params, directory / 'hf')
    atomic.write_text(directory / HELDOUT_JSON, json.dumps(losses, indent=1) + '\n')
    settings = {'t5': dataclasses.asdict(cfg), 'xqg': xqg.to_dict(), 'steps': total}
    atomic.write_text(directory / 'model.json', json.dumps(settings, indent=1) + '\n')
    return stage.files_under(directory, 'hf') + [HELDOUT_JSON, 'model.json'], {
        'steps': total, 'heldout_loss': losses}

  if jax.process_index() == 0:
    stage.run(out, stage='train_xqg', config=xqg.to_dict(), inputs=inputs, produce=produce,
              force=True)
  multihost.barrier(f'finished:{out}')  # No process returns before the outputs exist.
  return out
