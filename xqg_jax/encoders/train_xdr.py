"""xDR training: contrastive bi-encoder training on Tevatron groups, sharded, resumable.

Writes under `workdir/xdr/`: `checkpoints/` (orbax, keep K), `metrics.jsonl`, and on completion
`hf/` (the trained query/passage encoder in Hugging Face format, loadable by transformers) plus
`model.json` (the bi-encoder settings) and the stage manifest.
"""

import dataclasses
import json

from etils import epath
import grain
import jax
import ml_collections

from xqg_jax.data import pipeline
from xqg_jax.data import tfds_builders
from xqg_jax.data import tokenizers
from xqg_jax.encoders import xdr_model
from xqg_jax.encoders import xdr_step
from xqg_jax.io import atomic
from xqg_jax.io import stage_dir
from xqg_jax.models import hf_bert
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import multihost
from xqg_jax.parallel import partitioning
from xqg_jax.training import optimizer
from xqg_jax.training import trainer

MODEL_JSON = 'model.json'


def train(config: ml_collections.ConfigDict, workdir, *, data_dir, tfds_dir,
          tokenizer_dir: str, inputs: dict, stop_at: int | None = None) -> epath.Path:
  """Trains (or resumes) the xDR model; returns `workdir/xdr`. `stop_at` ends early after that
  step (with a checkpoint), as an interruption would, without writing the final outputs."""
  out = epath.Path(workdir) / 'xdr'
  xdr = config.xdr
  if stage_dir.is_done(out, config=xdr.to_dict(), inputs=inputs):
    return out
  tokenizer = tokenizers.load_tokenizer(tokenizer_dir)
  cfg, pretrained = xdr_model.encoder_config(config, tokenizer)
  model = xdr_model.bi_encoder_model(config, cfg)
  mesh = mesh_lib.create_mesh(config.mesh)
  rules = tuple(config.logical_axis_rules)

  groups = grain.MapDataset.source(tfds_builders.build_and_load(
      'xor_train_groups', data_dir, tfds_dir, 'train')).map(tfds_builders.decode_train_group)
  steps_per_epoch = trainer.steps_per_epoch(len(groups), xdr.batch_size)
  total = trainer.total_steps(xdr.num_train_steps, xdr.epochs, steps_per_epoch)
  tx = optimizer.make('adamw', xdr.learning_rate, total, int(xdr.warmup_ratio * total),
                      xdr.weight_decay, xdr.max_grad_norm)
  lr = optimizer.schedule(xdr.learning_rate, total, int(xdr.warmup_ratio * total))

  q_len, p_len = config.data.q_max_len, config.data.p_max_len

  def init_params(rng):
    return model.init(rng, xdr_model.dummy_batch(1, q_len),
                      xdr_model.dummy_batch(xdr.group_size, p_len))['params']

  host_batch = trainer.batches_by_step(lambda epoch: pipeline.train_batches(
      groups, tokenizer, group_size=xdr.group_size, q_max_len=q_len, p_max_len=p_len,
      batch_size=xdr.batch_size, seed=config.seed, epoch=epoch,
      process_index=jax.process_index(), process_count=jax.process_count()), steps_per_epoch)

  def batch_at(step: int) -> dict:
    host = host_batch(step)
    return {key: partitioning.shard_host_batch(host[key], mesh, rules)
            for key in ('query', 'passage')}

  state = trainer.fit(
      out, seed=config.seed, mesh=mesh, rules=rules, init_params=init_params, tx=tx,
      learning_rate=lr, make_step=lambda: xdr_step.make_train_step(
          model, tx, group_size=xdr.group_size, chunks=xdr.grad_cache_chunks,
          seed=config.seed),
      batch_at=batch_at,
      schedule=trainer.Schedule(total, xdr.checkpoint_every, xdr.keep_checkpoints,
                                xdr.log_every, xdr.batch_size),
      pretrained=(None if pretrained is None else
                  {name: pretrained for name in xdr_model.towers(config)}),
      stop_at=stop_at)
  if int(state.step) < total:
    return out

  def produce(directory):
    params = jax.device_get(state.params)
    for name in xdr_model.towers(config):  # each loadable by AutoModel and AutoTokenizer
      hf_bert.save_hf_encoder(cfg, params[name], directory / 'hf' / name)
      tokenizer.save_pretrained(directory / 'hf' / name)
    settings = {'encoder': dataclasses.asdict(cfg), 'xdr': xdr.to_dict(), 'steps': total}
    atomic.write_text(directory / MODEL_JSON, json.dumps(settings, indent=1) + '\n')
    return stage_dir.files_under(directory, 'hf') + [MODEL_JSON], {'steps': total}

  if jax.process_index() == 0:
    stage_dir.run(out, stage='train_xdr', config=xdr.to_dict(), inputs=inputs, produce=produce,
              force=True)
  multihost.barrier(f'finished:{out}')  # No process returns before the outputs exist.
  return out
