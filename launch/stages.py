"""The pipeline's stages in order, each a function of (config, workdir, state so far).

A stage's function returns the facts later stages need (directories, paths); each skips its
own work when its manifest proves it done, so running the list again is cheap.
"""

import time
from typing import Any, Callable

from absl import logging
from etils import epath
import ml_collections

from xqg_jax.data import prepare

State = dict[str, Any]


def _data(config, workdir, state: State) -> State:
  return {'data_dir': str(prepare.data_dir(config, workdir))}


def _tokenizers(config, workdir, state: State) -> State:
  dirs = prepare.tokenizer_dirs(config, epath.Path(state['data_dir']), workdir)
  return {f'{role}_tokenizer': path for role, path in dirs.items()}


def _datasets(config, workdir, state: State) -> State:
  return {'tfds_dir': str(prepare.datasets_dir(config, epath.Path(state['data_dir']),
                                                workdir))}


STAGES: tuple[tuple[str, Callable[..., State]], ...] = (
    ('data', _data),
    ('tokenizers', _tokenizers),
    ('datasets', _datasets),
)


def names() -> list[str]:
  return [name for name, _ in STAGES]


def run(config: ml_collections.ConfigDict, workdir, until: str | None = None) -> State:
  """Runs the stages in order up to `until` (all by default); each skips verified work."""
  if until is not None and until not in names():
    raise ValueError(f'unknown stage {until!r}; stages: {", ".join(names())}')
  state: State = {'timings': {}}
  for name, fn in STAGES:
    start = time.perf_counter()
    state.update(fn(config, workdir, state))
    state['timings'][name] = round(time.perf_counter() - start, 3)
    logging.info('stage %s: %.1f s', name, state['timings'][name])
    if name == until:
      break
  return state
