"""xDR training: contrastive bi-encoder training on Tevatron groups, sharded, resumable.

Writes under `workdir/xdr/`: `checkpoints/` (orbax, keep K), `metrics.jsonl`, and on completion
`hf/` (the trained query/passage encoder in Hugging Face format, loadable by transformers) plus
`model.json` (the bi-encoder settings) and the stage manifest.
"""

import dataclasses
import json

from absl import logging
from etils import epath
import grain
import jax
from flax import linen as nn
import ml_collections

from xqg_jax.data import pipeline
from xqg_jax.data import tfds_builders
from xqg_jax.data import tokenizers
from xqg_jax.encoders import hf_checkpoint
from xqg_jax.encoders import xdr_model
from xqg_jax.encoders import xdr_step
from xqg_jax.io import atomic
from xqg_jax.io import stage
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import partitioning
from xqg_jax.training import checkpoints as checkpoints_lib
from xqg_jax.training import loop
from xqg_jax.training import metrics as metrics_lib
from xqg_jax.training import optimizer
from xqg_jax.training import state as state_lib

MODEL_JSON = 'model.json'


def _total_steps(config: ml_collections.ConfigDict, num_groups: int) -> int:
  steps_per_epoch = num_groups // config.xdr.batch_size
  if steps_per_epoch == 0:
    raise ValueError(f'{num_groups} training groups are fewer than one batch of '
                     f'{config.xdr.batch_size}')
  if config.xdr.num_train_steps >= 0:  # 0: export the initialisation (untrained baseline)
    return config.xdr.num_train_steps
  return config.xdr.epochs * steps_per_epoch


def train(config: ml_collections.ConfigDict, workdir, *, data_dir, tfds_dir,
          tokenizer_dir: str, inputs: dict, stop_at: int | None = None) -> epath.Path:
  """Trains (or resumes) the xDR model; returns `workdir/xdr`. `stop_at` ends early after that
  step (with a checkpoint), as an interruption would, without writing the final outputs."""
  out = epath.Path(workdir) / 'xdr'
  xdr = config.xdr
  if stage.is_done(out, config=xdr.to_dict(), inputs=inputs):
    return out
  tokenizer = tokenizers.load_tokenizer(tokenizer_dir)
  cfg, pretrained = xdr_model.encoder_config(config, tokenizer)
  model = xdr_model.bi_encoder_model(config, cfg)
  mesh = mesh_lib.create_mesh(config.mesh)
  rules = tuple(config.logical_axis_rules)

  groups = grain.MapDataset.source(tfds_builders.build_and_load(
      'xor_train_groups', data_dir, tfds_dir, 'train')).map(tfds_builders.decode_train_group)
  total = _total_steps(config, len(groups))
  steps_per_epoch = len(groups) // xdr.batch_size
  tx = optimizer.make('adamw', xdr.learning_rate, total, int(xdr.warmup_ratio * total),
                      xdr.weight_decay, xdr.max_grad_norm)
  lr = optimizer.schedule(xdr.learning_rate, total, int(xdr.warmup_ratio * total))

  q_len, p_len = config.data.q_max_len, config.data.p_max_len

  def init_params(rng):
    return model.init(rng, xdr_model.dummy_batch(1, q_len),
                      xdr_model.dummy_batch(xdr.group_size, p_len))['params']

  rng = jax.random.key(config.seed)
  checkpoints = checkpoints_lib.Checkpoints(out / 'checkpoints', xdr.keep_checkpoints)
  state, shardings = state_lib.create(init_params, tx, mesh, rules, rng)
  if checkpoints.latest_step() is not None:
    state = checkpoints.restore(state_lib.abstract(shardings, init_params, tx, rng))
    logging.info('xDR: resumed from step %d', int(state.step))
  elif pretrained is not None:
    params = dict(state.params)
    for name in xdr_model.towers(config):
      params[name] = jax.device_put(pretrained, shardings.params[name])
    state = state.replace(params=params)
    logging.info('xDR: initialised from %s', xdr.init_from)

  epochs: dict[int, grain.MapDataset] = {}

  def batch_at(step: int) -> dict:
    epoch, index = divmod(step, steps_per_epoch)
    if epoch not in epochs:
      epochs.clear()
      epochs[epoch] = pipeline.train_batches(
          groups, tokenizer, group_size=xdr.group_size, q_max_len=q_len, p_max_len=p_len,
          batch_size=xdr.batch_size, seed=config.seed, epoch=epoch,
          process_index=jax.process_index(), process_count=jax.process_count())
    host = epochs[epoch][index]
    return {key: partitioning.shard_host_batch(host[key], mesh, rules)
            for key in ('query', 'passage')}

  step_fn = jax.jit(
      xdr_step.make_train_step(model, tx, group_size=xdr.group_size,
                               chunks=xdr.grad_cache_chunks, seed=config.seed),
      out_shardings=(shardings, None), donate_argnums=0)
  metrics = metrics_lib.MetricsWriter(out / 'metrics.jsonl', xdr.batch_size, int(state.step))
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    state = loop.run(state, step_fn=step_fn, batch_at=batch_at,
                     total_steps=min(total, stop_at or total), checkpoints=checkpoints,
                     checkpoint_every=xdr.checkpoint_every, log_every=xdr.log_every,
                     metrics=metrics, extra_metrics=lambda s: {'learning_rate': lr(s - 1)})
  checkpoints.close()
  if int(state.step) < total:
    return out

  def produce(directory):
    params = jax.device_get(state.params)
    for name in xdr_model.towers(config):
      hf_checkpoint.save_hf_encoder(cfg, params[name], directory / 'hf' / name)
    settings = {'encoder': dataclasses.asdict(cfg), 'xdr': xdr.to_dict(), 'steps': total}
    atomic.write_text(directory / MODEL_JSON, json.dumps(settings, indent=1) + '\n')
    return stage.files_under(directory, 'hf') + [MODEL_JSON], {'steps': total}

  if jax.process_index() == 0:
    stage.run(out, stage='train_xdr', config=xdr.to_dict(), inputs=inputs, produce=produce,
              force=True)
  return out
