"""The whole run config checked before any stage runs: every problem found, in one error.

A bad value (alpha outside [0, 1], an unknown language, fusion or optimizer, a mesh that does not
fit the devices) would otherwise surface only at the stage that reads it, after training and
generation ran. The checks build the same objects the stages build from the config (fusion,
decoding and attack settings, the mesh), so a rule lives in one place.
"""

from typing import Callable

import jax
import ml_collections

from xqg_jax import languages
from xqg_jax.augment import fusion
from xqg_jax.configs import common
from xqg_jax.data import errors
from xqg_jax.data import prepare
from xqg_jax.data import records
from xqg_jax.data import released_files
from xqg_jax.eval import significance
from xqg_jax.generation import decoding
from xqg_jax.index import index_stage
from xqg_jax.models import bi_encoder
from xqg_jax.models import bert
from xqg_jax.parallel import mesh as mesh_lib
from xqg_jax.parallel import xla_options
from xqg_jax.training import optimizer


class ConfigError(ValueError):
  """The run config has values no stage can run with (each named with its field)."""


def _one_of(value, allowed, field: str) -> None:
  if value not in allowed:
    raise ValueError(f'{field}={value!r}: must be one of {", ".join(map(str, allowed))}')


def _within(value, low, high, field: str, *, open_low: bool = False) -> None:
  if not (low < value <= high if open_low else low <= value <= high):
    raise ValueError(f'{field}={value!r}: must be in {"(" if open_low else "["}{low}, {high}]')


def _positive(config, *fields: str) -> None:
  for field in fields:
    value = config
    for part in field.split('.'):
      value = value[part]
    if not value > 0:
      raise ValueError(f'{field}={value!r}: must be positive')


def _training(config, tower: str) -> None:
  t = config[tower]
  _positive(config, f'{tower}.learning_rate', f'{tower}.batch_size', f'{tower}.log_every',
            f'{tower}.checkpoint_every')
  _one_of(t.dtype, tuple(bert.DTYPES), f'{tower}.dtype')
  _within(t.dropout, 0.0, 1.0, f'{tower}.dropout')
  _within(t.warmup_ratio, 0.0, 1.0, f'{tower}.warmup_ratio')
  if tower == 'xqg':
    _one_of(t.optimizer, optimizer.KINDS, 'xqg.optimizer')
    optimizer.schedule(1.0, 10, 0, t.decay_ratio)  # decay_ratio in [0, 1]
    _within(t.extra_share, 0.0, 1.0, 'xqg.extra_share')


def _training_data(config) -> None:
  """Real data must hold what training reads: groups (with passages) and the questions'
  languages (a Tevatron file has none: `data.files.train` gives them)."""
  files = config.data.files
  training = [t for t in ('xdr', 'xqg') if config[t].num_train_steps != 0]
  if not training:
    return
  if not (files.train_groups or files.train_dpr):
    raise ValueError(f'training ({", ".join(training)}) needs data.files.train_dpr (DPR '
                     'training JSON) or data.files.train_groups (Tevatron JSONL)')
  if files.train_groups and not files.train:
    raise ValueError('data.files.train_groups (Tevatron JSONL, no languages) needs '
                     'data.files.train: the training questions with their `lang`')


def _checks(config: ml_collections.ConfigDict) -> list[tuple[str, Callable[[], object]]]:
  augment, generate, ev = config.augment, config.generate, config.eval
  checks = [
      ('data.source', lambda: _one_of(config.data.source, prepare.SOURCES, 'data.source')),
      ('data.files', lambda: config.data.source != 'files' or released_files.check(config.data)),
      ('data.files', lambda: config.data.source != 'files' or _training_data(config)),
      ('on_bad_record', lambda: errors.BadRecordPolicy.from_name(config.on_bad_record)),
      ('languages', lambda: languages.validate(config.languages)),
      ('generate.languages', lambda: languages.validate(generate.languages)),
      ('mesh', lambda: mesh_lib.mesh_shape(config.mesh, jax.device_count())),
      ('xdr', lambda: _training(config, 'xdr')),
      ('xdr.pooling', lambda: _one_of(config.xdr.pooling, bi_encoder.POOLINGS, 'xdr.pooling')),
      ('xdr.compiler_options', lambda: xla_options.check(config.xdr.compiler_options,
                                                         'xdr.compiler_options')),
      ('xqg', lambda: _training(config, 'xqg')),
      ('generate', lambda: decoding.SamplingConfig(
          max_new_tokens=generate.max_new_tokens, num_return_sequences=generate.num_queries,
          do_sample=generate.do_sample, temperature=generate.temperature,
          top_k=generate.top_k, top_p=generate.top_p)),
      ('generate.batch_size', lambda: _positive(config, 'generate.batch_size')),
      ('generate.compiler_options', lambda: xla_options.check(
          generate.compiler_options, 'generate.compiler_options')),
      ('augment', lambda: fusion.FusionConfig.from_config(augment)),
      ('augment.fusion', lambda: _one_of(augment.fusion, fusion.FUSIONS, 'augment.fusion')),
      ('augment.fusions', lambda: [_one_of(f, fusion.FUSIONS, 'augment.fusions')
                                   for f in augment.fusions]),
      ('eval.sweep_alphas', lambda: [_within(a, 0.0, 1.0, 'eval.sweep_alphas')
                                     for a in ev.sweep_alphas]),
      ('eval.sweep_num_queries', lambda: [
          _within(n, 1, generate.num_queries, 'eval.sweep_num_queries')
          for n in ev.sweep_num_queries]),
      ('augment.num_queries', lambda: augment.select or _within(
          augment.num_queries, 1, generate.num_queries, 'augment.num_queries')),
      ('index.kind', lambda: _one_of(config.index.kind, index_stage.KINDS, 'index.kind')),
      ('index.hits', lambda: _positive(config, 'index.hits')),
      ('eval.kilo_tokens', lambda: [_positive({'k': k}, 'k') for k in ev.kilo_tokens]),
      ('eval.significance_level', lambda: _within(ev.significance_level, 0.0, 1.0,
                                                  'eval.significance_level', open_low=True)),
      ('eval.confidence', lambda: _within(ev.confidence, 0.0, 1.0, 'eval.confidence',
                                          open_low=True)),
      ('eval.correction', lambda: _one_of(ev.correction, significance.CORRECTIONS,
                                          'eval.correction')),
      ('robustness.split', lambda: _one_of(config.robustness.split, records.EVALUATION_SPLITS,
                                           'robustness.split')),
  ]
  for name in config.robustness.attacks:
    checks.append((f'robustness.{name}', lambda name=name: common.attack(
        **{k: v for k, v in _attack_entry(config, name).items()})))
  return checks


def _attack_entry(config, name: str) -> dict:
  if name not in config.robustness:
    raise ValueError(f'robustness.attacks names {name!r}, which has no entry '
                     f'robustness.{name}')
  return config.robustness[name].to_dict()


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises `ConfigError` listing every field that no stage can run with."""
  problems = []
  for field, check in _checks(config):
    try:
      check()
    except (ValueError, KeyError, TypeError) as e:
      message = str(e.args[0]) if e.args else repr(e)
      problems.append(message if field in message else f'{field}: {message}')
  if problems:
    raise ConfigError('the config cannot run:\n  ' + '\n  '.join(problems))
