"""xQG training: mT5 fine-tuned on (prompt with passage, language) -> question, resumable.

Two stages share one training loop (`_fit`):
  pretrain_xqg  a generator trained from scratch first learns from pre-training text pairs
                (`xqg.pretrain`), under `workdir/xqg_pretrain/`;
  train_xqg     fine-tuning on the training pairs (from the pre-trained export, a real mT5 in
                `xqg.init_from`, or scratch), with `xqg.extra_pairs` mixed into every batch,
                under `workdir/xqg/`.
Each writes `checkpoints/`, `metrics.jsonl` and on completion `hf/` (an
`MT5ForConditionalGeneration` checkpoint), `model.json` and the stage manifest; fine-tuning
also `heldout.json` (teacher-forced loss on the dev pairs before and after it).
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
from xqg_jax.data import prompts
from xqg_jax.data import tfds_builders
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import corpus as corpus_format
from xqg_jax.data.formats import qrels as qrels_format
from xqg_jax.data.formats import queries as queries_format
from xqg_jax.data.formats import text_pairs
from xqg_jax.generation import qgen_data
from xqg_jax.generation import xqg_step
from xqg_jax.io import atomic
from xqg_jax.io import stage_dir
from xqg_jax.models import hf_t5
from xqg_jax.models import t5
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import multihost
from xqg_jax.parallel import partitioning
from xqg_jax.training import optimizer
from xqg_jax.training import trainer

HELDOUT_JSON = 'heldout.json'
_BATCH_KEYS = ('input_ids', 'attention_mask', 'decoder_input_ids', 'labels', 'weights')


def model_config(config: ml_collections.ConfigDict, tokenizer,
                 init_dir: str | None = None) -> tuple[t5.T5Config, dict | None]:
  """(architecture, HF params or None): from `init_dir` (the pre-training stage's export),
  else `xqg.init_from`, else the `xqg.preset` architecture for the generator tokenizer."""
  xqg = config.xqg
  overrides = {'dtype': xqg.dtype, 'dropout_rate': xqg.dropout}
  source = init_dir or xqg.init_from
  if source:
    cfg, params = hf_t5.load_hf_t5(source, **overrides)
  else:
    cfg, params = t5.preset_config(xqg.preset, vocab_size=len(tokenizer),
                                   pad_token_id=tokenizer.pad_token_id,
                                   eos_token_id=tokenizer.eos_token_id,
                                   decoder_start_token_id=tokenizer.pad_token_id,
                                   **overrides), None
  tokenizers.check_vocab(tokenizer, cfg.vocab_size, f'xQG model ({source or xqg.preset})')
  return cfg, params


def pair_examples(data_dir, names: Sequence[str], policy) -> list[qgen_data.Example]:
  """Text-pair files (`names`, relative to `data_dir`, in order) as training examples."""
  return [qgen_data.Example(p.id, p.lang, p.input, p.target) for name in names
          for p in text_pairs.read_text_pairs(epath.Path(data_dir) / name, policy)]


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


@dataclasses.dataclass(frozen=True)
class Phase:
  """One training run of the generator: its examples, batches and optimizer."""
  stage: str
  items: Sequence[qgen_data.Example]
  extra: Sequence[qgen_data.Example]  # mixed in: `extra_share` of every batch
  extra_share: float
  batch_size: int
  input_max_len: int
  target_max_len: int
  learning_rate: float
  warmup_ratio: float
  decay_ratio: float
  num_train_steps: int
  epochs: int
  length_buckets: Sequence[tuple[int, int]] = ()  # (input, target) pairs; () = one shape

  def split_batch(self, process_count: int) -> tuple[int, int]:
    """(rows from `items`, rows from `extra`) of a global batch; both whole per process."""
    extra = round(self.batch_size * self.extra_share) if self.extra else 0
    main = self.batch_size - extra
    if main < 1 or extra % process_count or main % process_count:
      raise ValueError(f'{self.stage}: batch {self.batch_size} with extra_share '
                       f'{self.extra_share} splits into {main} + {extra} rows; each part must be '
                       f'a positive multiple of the {process_count} processes')
    return main, extra


def _fit(config: ml_collections.ConfigDict, out: epath.Path, phase: Phase, *, tokenizer,
         init_dir: str | None, stop_at: int | None):
  """Trains `phase` (resuming from `out/checkpoints`); returns (model, cfg, state, initial
  params, mesh, rules), the state short of the end when `stop_at` came first."""
  xqg = config.xqg
  cfg, pretrained = model_config(config, tokenizer, init_dir)
  model = t5.T5(cfg)
  mesh = mesh_lib.create_mesh(config.mesh)
  rules = tuple(config.logical_axis_rules)
  main_rows, extra_rows = phase.split_batch(jax.process_count())
  per_epoch = trainer.steps_per_epoch(len(phase.items), main_rows)
  total = trainer.total_steps(phase.num_train_steps, phase.epochs, per_epoch)
  warmup = int(phase.warmup_ratio * total)
  tx = optimizer.make(xqg.optimizer, phase.learning_rate, total, warmup, xqg.weight_decay,
                      xqg.max_grad_norm, phase.decay_ratio)
  dummy = np.zeros((1, 8), np.int32)

  def init_params(rng):
    params = model.init(rng, dummy, np.ones_like(dummy), dummy)['params']
    if 'lm_head' not in params:
      return params
    # From scratch, T5's std-1 head gives logits of std sqrt(d_model) (untrained loss 41 vs
    # ln(vocab) 8.3 for `mini`); fan-in scaling starts them near uniform.
    return {**params, 'lm_head': jax.tree.map(lambda w: w * cfg.d_model ** -0.5,
                                              params['lm_head'])}

  shapes = tuple(tuple(s) for s in phase.length_buckets)

  def host_batches(items, rows):
    keys = qgen_data.shape_keys(items, tokenizer, shapes) if shapes else None
    return trainer.batches_by_step(lambda epoch: qgen_data.train_batches(
        items, tokenizer, input_max_len=phase.input_max_len,
        target_max_len=phase.target_max_len, decoder_start_id=cfg.decoder_start_token_id,
        batch_size=rows, seed=config.seed, epoch=epoch, process_index=jax.process_index(),
        process_count=jax.process_count(), shapes=shapes, keys=keys),
        trainer.steps_per_epoch(len(items), rows))

  parts = [host_batches(phase.items, main_rows)]
  if extra_rows:
    parts.append(host_batches(phase.extra, extra_rows))

  def batch_at(step: int) -> dict:
    batches = [part(step) for part in parts]
    lengths = {k: max(b[k].shape[1] for b in batches) for k in _BATCH_KEYS}
    # The parts may come in different length buckets: pad each to the longer (pad id, weight 0).
    batch = {k: np.concatenate([np.pad(b[k], ((0, 0), (0, lengths[k] - b[k].shape[1])),
                                       constant_values=0 if k in ('attention_mask', 'weights')
                                       else cfg.pad_token_id)
                                for b in batches]) for k in _BATCH_KEYS}
    return partitioning.shard_host_batch(batch, mesh, rules)

  state = trainer.fit(
      out, seed=config.seed, mesh=mesh, rules=rules, init_params=init_params, tx=tx,
      learning_rate=optimizer.schedule(phase.learning_rate, total, warmup, phase.decay_ratio),
      make_step=lambda: xqg_step.make_train_step(model, tx, seed=config.seed),
      batch_at=batch_at,
      schedule=trainer.Schedule(total, xqg.checkpoint_every, xqg.keep_checkpoints,
                                xqg.log_every, phase.batch_size),
      pretrained=pretrained, stop_at=stop_at)
  initial = pretrained if pretrained is not None else jax.device_get(
      nn.unbox(init_params(jax.random.key(config.seed))))
  return model, cfg, state, initial, mesh, rules, total


def _finish(out: epath.Path, phase: Phase, *, cfg, params, tokenizer, settings: dict,
            inputs: dict, extra: dict, files: dict[str, str]) -> None:
  """Exports `params` and `tokenizer` (`out/hf`, loadable by `AutoModelForSeq2SeqLM` and
  `AutoTokenizer`) with `files` {name: text} and the manifest, on process 0."""
  def produce(directory):
    hf_t5.save_hf_t5(cfg, params, directory / 'hf')
    tokenizer.save_pretrained(directory / 'hf')
    for name, text in files.items():
      atomic.write_text(directory / name, text)
    atomic.write_text(directory / 'model.json', json.dumps(
        {'t5': dataclasses.asdict(cfg), **settings}, indent=1) + '\n')
    return stage_dir.files_under(directory, 'hf') + [*files, 'model.json'], extra

  if jax.process_index() == 0:
    stage_dir.run(out, stage=phase.stage, config=settings, inputs=inputs, produce=produce,
              force=True)
  multihost.barrier(f'finished:{out}')  # No process returns before the outputs exist.


def pretrain(config: ml_collections.ConfigDict, workdir, *, data_dir, tokenizer_dir: str,
             inputs: dict, stop_at: int | None = None) -> epath.Path | None:
  """Pre-trains the generator from scratch on `xqg.pretrain.pairs`; returns
  `workdir/xqg_pretrain` (whose `hf/` fine-tuning starts from), or None when not configured."""
  pre = config.xqg.pretrain
  if not pre.pairs or not pre.num_train_steps:
    return None
  if config.xqg.init_from:
    raise ValueError('xqg.pretrain trains a generator from scratch; xqg.init_from names a '
                     'pre-trained one already (use one or the other)')
  out = epath.Path(workdir) / 'xqg_pretrain'
  settings = {'pretrain': pre.to_dict(), 'xqg': config.xqg.to_dict()}
  if stage_dir.is_done(out, config=settings, inputs=inputs):
    return out
  policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
  phase = Phase('pretrain_xqg', pair_examples(data_dir, pre.pairs, policy), (),
                0.0, pre.batch_size, pre.input_max_len, pre.target_max_len, pre.learning_rate,
                pre.warmup_ratio, pre.decay_ratio, pre.num_train_steps, 1, pre.length_buckets)
  tokenizer = tokenizers.load_tokenizer(tokenizer_dir)
  _, cfg, state, _, _, _, total = _fit(config, out, phase, tokenizer=tokenizer, init_dir=None,
                                       stop_at=stop_at)
  if int(state.step) < total:
    return out
  _finish(out, phase, cfg=cfg, params=jax.device_get(state.params), tokenizer=tokenizer,
          settings=settings, inputs=inputs, extra={'steps': total, 'pairs': len(phase.items)}, files={})
  return out


def train(config: ml_collections.ConfigDict, workdir, *, data_dir, tfds_dir, tokenizer_dir: str,
          inputs: dict, pretrained_dir=None, stop_at: int | None = None) -> epath.Path:
  """Fine-tunes the generator (from `pretrained_dir/hf`, `xqg.init_from` or scratch) on the
  training pairs, with `xqg.extra_pairs` mixed in; returns `workdir/xqg`."""
  out = epath.Path(workdir) / 'xqg'
  xqg = config.xqg
  if stage_dir.is_done(out, config=xqg.to_dict(), inputs=inputs):
    return out
  policy = errors.BadRecordPolicy.from_name(config.on_bad_record)
  tokenizer = tokenizers.load_tokenizer(tokenizer_dir)
  langs = {q.id: q.lang for q in queries_format.read_queries(
      epath.Path(data_dir) / 'queries/train.jsonl', policy)}
  groups = grain.MapDataset.source(tfds_builders.build_and_load(
      'xor_train_groups', data_dir, tfds_dir, 'train')).map(tfds_builders.decode_train_group)
  items = qgen_data.rebalance(qgen_data.examples(groups, langs, config.generate.languages),
                              xqg.language_alpha, config.seed)
  extra = pair_examples(data_dir, xqg.extra_pairs, policy)
  phase = Phase('train_xqg', items, extra, xqg.extra_share, xqg.batch_size, xqg.input_max_len,
                xqg.target_max_len, xqg.learning_rate, xqg.warmup_ratio, xqg.decay_ratio,
                xqg.num_train_steps, xqg.epochs, xqg.length_buckets)
  init_dir = str(epath.Path(pretrained_dir) / 'hf') if pretrained_dir else None
  model, cfg, state, initial, mesh, rules, total = _fit(
      config, out, phase, tokenizer=tokenizer, init_dir=init_dir, stop_at=stop_at)
  if int(state.step) < total:
    return out
  params = jax.device_get(state.params)
  heldout = heldout_examples(data_dir, config.generate.languages, policy)
  with jax.set_mesh(mesh):  # On every process: each holds its share of the held-out batches.
    losses = {'untrained': heldout_loss(model, initial, heldout, tokenizer, config, mesh, rules),
              'trained': heldout_loss(model, params, heldout, tokenizer, config, mesh, rules),
              'examples': len(heldout)}
  _finish(out, phase, cfg=cfg, params=params, tokenizer=tokenizer, settings=xqg.to_dict(),
          inputs=inputs, extra={'steps': total, 'heldout_loss': losses},
          files={HELDOUT_JSON: json.dumps(losses, indent=1) + '\n'})
  return out
