"""Attacks built by name from a config dict (`{'kind': ..., **settings}`).

  {'kind': 'char_noise', 'budget': 2, 'operations': ['substitute', 'swap']}   (or 'rate': 0.1)
  {'kind': 'code_switch', 'budget': 2}           lexicons from {data_dir}/lexicons
  {'kind': 'paraphrase', 'source': 'benchmark'}  {data_dir}/paraphrases/{split}.jsonl
  {'kind': 'paraphrase', 'source': 'file', 'path': 'my_paraphrases.jsonl'}
  {'kind': 'paraphrase', 'source': 'model', 'path': 'hf_mt5_dir', 'prompt': 'paraphrase: {query}'}
  {'kind': 'hotflip', 'budget': 2}               white-box, `robustness.hotflip.HotFlip`
  {'kind': 'random_edits', 'budget': 2}          its baseline, `hotflip.RandomEdits`

The black-box settings and their defaults are listed in `SETTINGS`; an unknown kind or setting
is an error naming the known ones. `name` (default: the kind) names a black-box attack and keys
its randomness. The white-box kinds get their spec settings as keyword arguments, and every
kind gets the keyword arguments in `build`'s `**extra` (e.g. the white-box attacks' encoder,
tokenizer, corpus embeddings and gold rows), passed through to its constructor.
"""

from typing import Any, Mapping

from etils import epath
import ml_collections

from xqg_jax.generation import decoding
from xqg_jax.robustness import attacked_set
from xqg_jax.robustness import char_noise
from xqg_jax.robustness import code_switch
from xqg_jax.robustness import paraphrase

REQUIRED = object()
_MODEL = {'tokenizer': '', 'prompt': paraphrase.DEFAULT_PROMPT, 'num_return_sequences': 1,
          'do_sample': False, 'temperature': 1.0, 'top_k': 0, 'top_p': 1.0,
          'max_new_tokens': 64, 'batch_size': 32, 'input_max_len': 64}
# Per kind: setting -> default (REQUIRED: no default).
SETTINGS: dict[str, dict[str, Any]] = {
    'char_noise': {'budget': None, 'rate': None, 'operations': char_noise.OPERATIONS},
    'code_switch': {'budget': REQUIRED, 'lexicon_dir': ''},
    'paraphrase': {'source': REQUIRED, 'budget': None, 'path': '', **_MODEL},
}
# The paraphrase settings each source reads; the others must keep their defaults (or be
# empty), so that one config entry can hold them all and switch source by a flag.
SOURCES = {'benchmark': ('budget',), 'file': ('budget', 'path'),
           'model': ('budget', 'path', *_MODEL)}
KINDS = ('char_noise', 'code_switch', 'paraphrase', 'hotflip', 'random_edits')


def _settings(spec: Mapping[str, Any], kind: str) -> dict[str, Any]:
  """`spec` (less kind) over the defaults of `SETTINGS[kind]`."""
  given = {k: v for k, v in spec.items() if k != 'kind'}
  defaults = SETTINGS[kind]
  unknown = sorted(set(given) - set(defaults))
  if unknown:
    raise ValueError(f'attack {kind}: unknown settings {unknown}; known: {sorted(defaults)}')
  out = {**defaults, **given}
  missing = sorted(k for k, v in out.items() if v is REQUIRED)
  if missing:
    raise ValueError(f'attack {kind}: missing settings {missing}')
  return out


def _need(value, what: str, kind: str):
  if value is None:
    raise ValueError(f'attack {kind} needs {what}')
  return value


def _paraphrase(spec, *, seed, data_dir, split, name, config, **extra) -> attacked_set.Attack:
  s = _settings(spec, 'paraphrase')
  source = s['source']
  if source not in SOURCES:
    raise ValueError(f'attack paraphrase: source must be one of {tuple(SOURCES)}, '
                     f'got {source!r}')
  unused = sorted(k for k in SETTINGS['paraphrase'] if k not in ('source', *SOURCES[source])
                  and s[k] and s[k] != SETTINGS['paraphrase'][k])
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
      _need(config, 'the run config (config=...) for its mesh and dtype', 'paraphrase/model'),
      s['path'], s['tokenizer'] or s['path'], seed=seed, sampling=sampling,
      batch_size=s['batch_size'], input_max_len=s['input_max_len'])
  return paraphrase.ModelParaphraser(generator, prompt=s['prompt'], budget=s['budget'],
                                     name=name, **extra)


def build(spec: Mapping[str, Any], *, seed: int, data_dir=None, split: str | None = None,
          name: str | None = None, config: ml_collections.ConfigDict | None = None,
          **extra) -> attacked_set.Attack:
  """The attack `spec` describes (module docstring).

  Args:
    spec: {'kind': one of `KINDS`, **settings}.
    seed: the run's seed (with `name` and the query id, all of an attack's randomness).
    data_dir: the benchmark's data directory (lexicons, paraphrases).
    split: the query split (benchmark paraphrases).
    name: the attack's name; default the kind (the white-box attacks name themselves).
    config: the run config (the model paraphraser runs on its mesh and `xqg.dtype`).
    **extra: passed to the attack constructor (white-box attacks: model and encoder objects).
  """
  kind = spec.get('kind')
  name = name or kind
  if kind == 'char_noise':
    s = _settings(spec, kind)
    return char_noise.CharNoise(seed=seed, budget=s['budget'], rate=s['rate'],
                                operations=tuple(s['operations']), name=name, **extra)
  if kind == 'code_switch':
    s = _settings(spec, kind)
    directory = s['lexicon_dir'] or epath.Path(
        _need(data_dir, 'data_dir or lexicon_dir', kind)) / 'lexicons'
    return code_switch.CodeSwitch(directory, seed=seed, budget=s['budget'], name=name, **extra)
  if kind == 'paraphrase':
    return _paraphrase(spec, seed=seed, data_dir=data_dir, split=split, name=name,
                       config=config, **extra)
  if kind in ('hotflip', 'random_edits'):
    # Imported here: the white-box attacks pull in the encoder stack.
    from xqg_jax.robustness import hotflip  # pylint: disable=g-import-not-at-top
    settings = {k: v for k, v in spec.items() if k != 'kind'}
    if kind == 'hotflip':  # deterministic: no seed
      return hotflip.HotFlip(**settings, **extra)
    return hotflip.RandomEdits(**settings, seed=seed, **extra)
  raise ValueError(f'unknown attack kind {kind!r}; known: {", ".join(KINDS)}')
