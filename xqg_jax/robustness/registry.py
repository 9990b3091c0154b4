"""Attacks built by name from a config entry (`{'kind': ..., **settings}`).

  {'kind': 'char_noise', 'budget': 2, 'operations': ['substitute', 'swap']}   (or 'rate': 0.1)
  {'kind': 'code_switch', 'budget': 2}           lexicons from {data_dir}/lexicons
  {'kind': 'paraphrase', 'source': 'benchmark'}  {data_dir}/paraphrases/{split}.jsonl
  {'kind': 'paraphrase', 'source': 'file', 'path': 'my_paraphrases.jsonl'}
  {'kind': 'paraphrase', 'source': 'model', 'path': 'hf_mt5_dir', 'prompt': 'paraphrase: {query}'}
  {'kind': 'hotflip', 'budget': 2}               white-box, `robustness.hotflip.HotFlip`
  {'kind': 'random_edits', 'budget': 2}          its baseline, `hotflip.RandomEdits`

Every setting and its default is in the config (`configs.common.ATTACK_SETTINGS`; a
pipeline config holds complete entries, written by `configs.common.attack`); a setting left
out of an entry takes that default. An unknown kind or setting is an error naming the known
ones. `name` (default: the kind) names an attack and keys its randomness. Every kind gets the
keyword arguments in `build`'s `**extra` (e.g. the white-box attacks' encoder, tokenizer, corpus
embeddings and gold rows), passed through to its constructor.
"""

from typing import Mapping

from etils import epath

from xqg_jax.configs import common
from xqg_jax.generation import decoding
from xqg_jax.robustness import attacked_set
from xqg_jax.robustness import char_noise
from xqg_jax.robustness import code_switch
from xqg_jax.robustness import paraphrase

KINDS = tuple(common.ATTACK_SETTINGS)
# The paraphrase settings each source reads; the others must keep their defaults, so that
# one config entry can hold them all and switch source by a flag.
_MODEL_SETTINGS = ('tokenizer', 'prompt', 'num_return_sequences', 'do_sample', 'temperature',
                   'top_k', 'top_p', 'max_new_tokens', 'batch_size', 'input_max_len')
SOURCES = {'benchmark': ('budget',), 'file': ('budget', 'path'),
           'model': ('budget', 'path', *_MODEL_SETTINGS)}


def _settings(spec: Mapping) -> dict:
  """Every setting of `spec`'s kind: the spec's over the config defaults (less the kind)."""
  given = {k: v for k, v in spec.items() if k != 'kind'}
  out = common.attack(spec['kind'], **given).to_dict()
  del out['kind']
  return out


def _need(value, what: str, kind: str):
  if value is None:
    raise ValueError(f'attack {kind} needs {what}')
  return value


def _paraphrase(spec, *, seed, data_dir, split, name, runtime, **extra) -> attacked_set.Attack:
  s = _settings(spec)
  source = s['source']
  if source not in SOURCES:
    raise ValueError(f'attack paraphrase: source must be one of {tuple(SOURCES)}, '
                     f'got {source!r}')
  defaults = common.ATTACK_SETTINGS['paraphrase']
  unused = sorted(k for k in defaults if k not in ('source', *SOURCES[source])
                  and s[k] and s[k] != defaults[k])
  if unused:
    raise ValueError(f'attack paraphrase: source {source!r} does not use settings {unused}')
  if source != 'benchmark' and not s['path']:
    raise ValueError(f'attack paraphrase: source {source!r} needs a path')
  if source == 'benchmark':
    path = epath.Path(_need(data_dir, 'data_dir', 'paraphrase')) / 'paraphrases' / (
        f'{_need(split, "split", "paraphrase")}.jsonl')
    return paraphrase.KnownParaphrase.from_file(path, seed=seed, budget=s['budget'], name=name,
                                                **extra)
  if source == 'file':
    return paraphrase.KnownParaphrase.from_file(s['path'], seed=seed, budget=s['budget'],
                                                name=name, **extra)
  sampling = decoding.SamplingConfig(
      max_new_tokens=s['max_new_tokens'], num_return_sequences=s['num_return_sequences'],
      do_sample=s['do_sample'], temperature=s['temperature'], top_k=s['top_k'],
      top_p=s['top_p'])
  generator = paraphrase.load_generator(
      s['path'], s['tokenizer'] or s['path'], seed=seed, sampling=sampling,
      batch_size=s['batch_size'], input_max_len=s['input_max_len'],
      runtime=_need(runtime, 'runtime= (the mesh and dtype to run on)', 'paraphrase/model'))
  return paraphrase.ModelParaphraser(generator, prompt=s['prompt'], budget=s['budget'],
                                     name=name, **extra)


def missing_resource(spec: Mapping, *, data_dir, split: str) -> str | None:
  """Why the data cannot feed the attack `spec` (a file it reads is absent), or None.

  The benchmark's paraphrase lists, its lexicons and the qrels HotFlip aims at are in the
  synthetic benchmark; real XOR-TyDi has none of them, and such attacks are skipped.
  """
  s = _settings(spec)
  data = epath.Path(data_dir)
  needs = {
      'paraphrase': (data / 'paraphrases' / f'{split}.jsonl' if s.get('source') == 'benchmark'
                     else None, 'paraphrase lists'),
      'code_switch': (None if s.get('lexicon_dir') else data / 'lexicons', 'lexicons'),
      'hotflip': (data / 'qrels' / f'{split}.txt', 'qrels (the gold passages it pushes out)'),
  }
  path, what = needs.get(spec['kind'], (None, ''))
  if path is not None and not path.exists():
    return f'the data has no {what}: {path} is absent'
  return None


def build(spec: Mapping, *, seed: int, data_dir=None, split: str | None = None,
          name: str | None = None, runtime: paraphrase.Runtime | None = None,
          **extra) -> attacked_set.Attack:
  """The attack `spec` describes (module docstring).

  Args:
    spec: {'kind': one of `KINDS`, **settings}.
    seed: the run's seed (with `name` and the query id, all of an attack's randomness).
    data_dir: the benchmark's data directory (lexicons, paraphrases).
    split: the query split (benchmark paraphrases).
    name: the attack's name; default the kind.
    runtime: the mesh and dtype a model paraphraser runs on.
    **extra: passed to the attack constructor (white-box attacks: model and encoder objects).
  """
  kind = spec.get('kind')
  if kind not in KINDS:
    raise ValueError(f'unknown attack kind {kind!r}; known: {", ".join(KINDS)}')
  name = name or kind
  if kind == 'paraphrase':
    return _paraphrase(spec, seed=seed, data_dir=data_dir, split=split, name=name,
                       runtime=runtime, **extra)
  s = _settings(spec)
  if kind == 'char_noise':
    return char_noise.CharNoise(seed=seed, budget=s['budget'], rate=s['rate'],
                                operations=tuple(s['operations']), name=name, **extra)
  if kind == 'code_switch':
    directory = s['lexicon_dir'] or epath.Path(
        _need(data_dir, 'data_dir or lexicon_dir', kind)) / 'lexicons'
    return code_switch.CodeSwitch(directory, seed=seed, budget=s['budget'], name=name, **extra)
  # Imported here: the white-box attacks pull in the encoder stack.
  from xqg_jax.robustness import hotflip  # pylint: disable=g-import-not-at-top
  if kind == 'hotflip':  # deterministic: no seed
    return hotflip.HotFlip(**s, **extra)
  return hotflip.RandomEdits(**s, seed=seed, **extra)
