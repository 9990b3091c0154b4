"""A declared stage graph: a recorded stage result is reused only while what it read is unchanged.

Each stage declares the config fields it reads (dotted paths to sub-trees or leaves), the config
fields that name files or directories it reads (their content is digested, not their path) and
the stages whose results it takes. Its record, `workdir/stages/{name}.json`, holds those config
values, the content digests, the digest of each upstream stage's record and what the stage
returned. A stage that is not selected to run is reused only when all of these still match;
otherwise `StaleStageError` names the stage and what changed.

A stage function is given only the part of the config it declared (`stage_config`), so a
field it reads but did not declare is an AttributeError when it runs, not a stale reuse later.
"""

import contextlib
import copy
import dataclasses
import re
import json
import time
from typing import Any, Callable, Iterable, Mapping

from absl import logging
from etils import epath
import ml_collections

from xqg_jax.io import atomic
from xqg_jax.io import manifest as manifest_lib
from xqg_jax.io import peak_memory
from xqg_jax.io import provenance
from xqg_jax.io import stage_dir as stage_lib

State = dict[str, Any]
RECORD_VERSION = 2
# How a stage runs, not what it computes: given to every stage, in no digest, so that a result
# computed on one mesh (a TPU pod) can be reused on another (a laptop).
RUNTIME_FIELDS = ('mesh', 'logical_axis_rules', 'distributed')


class StaleStageError(RuntimeError):
  """A stage's recorded result no longer matches the config, files or upstream results."""


@dataclasses.dataclass(frozen=True)
class Stage:
  """One stage: `fn(config, workdir, state) -> produced state`, and what it reads.

  `fn` is given `stage_config(stage, config)`: the declared fields only."""
  name: str
  fn: Callable[[ml_collections.ConfigDict, Any, State], State]
  reads: tuple[str, ...]  # config fields (dotted; a sub-tree stands for all of its leaves)
  after: tuple[str, ...] = ()  # stages whose results it takes
  files: tuple[str, ...] = ()  # config fields naming files or directories it reads


def check_graph(graph: Iterable[Stage]) -> None:
  """Raises ValueError unless names are unique and every stage comes after those it takes."""
  seen = set()
  for stage in graph:
    if stage.name in seen:
      raise ValueError(f'stage {stage.name!r} is declared twice')
    unknown = [name for name in stage.after if name not in seen]
    if unknown:
      raise ValueError(f'stage {stage.name!r} takes {unknown}, which are not declared before it')
    seen.add(stage.name)


def _get(config: ml_collections.ConfigDict, dotted: str) -> Any:
  value = config
  for part in dotted.split('.'):
    if part not in value:
      raise KeyError(f'config has no field {dotted!r}')
    value = value[part]
  return value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value


def stage_config(stage: Stage, config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The fields of `config` that `stage` declares (reads, files) and `RUNTIME_FIELDS`, locked.

  Reading any other field raises AttributeError, so every field a stage uses is in its digest.
  """
  resolved = config.copy_and_resolve_references()
  out = ml_collections.ConfigDict()
  for dotted in (*stage.reads, *stage.files, *RUNTIME_FIELDS):
    _get(resolved, dotted)  # a declared field that does not exist is an error here
    *parents, leaf = dotted.split('.')
    source, target = resolved, out
    for part in parents:
      source = source[part]
      if part not in target:
        target[part] = ml_collections.ConfigDict()
      target = target[part]
    target[leaf] = copy.deepcopy(source[leaf])
  out.lock()
  return out


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
  if isinstance(value, Mapping):
    for key, item in value.items():
      _flatten(item, f'{prefix}.{key}', out)
  else:
    out[prefix] = json.loads(json.dumps(value, default=str))  # tuples as lists, as recorded
  return out


def config_values(stage: Stage, config: ml_collections.ConfigDict) -> dict[str, Any]:
  """{dotted leaf: value} of every config field the stage reads."""
  out = {}
  for dotted in stage.reads:
    _flatten(_get(config, dotted), dotted, out)
  return out


def file_digests(stage: Stage, config: ml_collections.ConfigDict) -> dict[str, str]:
  """{field: content digest} of the files the stage's config names ('' and hub ids as given)."""
  out = {}
  for field in stage.files:
    path = _get(config, field)
    out[field] = (f'sha256:{stage_lib.content_digest(path)}'
                  if path and epath.Path(path).exists() else str(path))
  return out


def record_digest(record: Mapping[str, Any]) -> str:
  return manifest_lib.fingerprint(record)


def make_record(stage: Stage, config, produced: State,
                records: Mapping[str, Mapping[str, Any]],
                files: Mapping[str, str] | None = None) -> dict[str, Any]:
  """The record of a stage that just ran on `config` after the given upstream records
  (`files`: its `file_digests`, when already computed)."""
  return {'version': RECORD_VERSION, 'config': config_values(stage, config),
          'files': dict(files) if files is not None else file_digests(stage, config),
          'upstream': {name: record_digest(records[name]) for name in stage.after},
          'state': produced, 'provenance': provenance.provenance()}


def _show(value: Any) -> str:
  return json.dumps(value, ensure_ascii=False)


def problems(stage: Stage, config, record: Mapping[str, Any],
             records: Mapping[str, Mapping[str, Any]]) -> list[str]:
  """What differs between `record` and the present config, files and upstream records."""
  if record.get('version') != RECORD_VERSION:
    return ['its record was written by an older version that did not record its config']
  found = []
  now, then = config_values(stage, config), record['config']
  for field in sorted(now.keys() | then.keys()):
    if now.get(field, '(absent)') != then.get(field, '(absent)'):
      found.append(f'{field} was {_show(then.get(field, "(absent)"))} when it ran, '
                   f'is {_show(now.get(field, "(absent)"))} now')
  for field, digest in file_digests(stage, config).items():
    if record['files'].get(field) != digest:
      found.append(f'the content of {field} ({_get(config, field)}) changed since it ran')
  for name in stage.after:
    if record['upstream'].get(name) != record_digest(records[name]):
      found.append(f'the result of stage {name!r} it used has since been replaced')
  return found


def _field_names(value: Any) -> set[str]:
  if not isinstance(value, (ml_collections.ConfigDict, Mapping)):
    return set()
  return {str(k) for k in value.keys()}.union(*(_field_names(v) for v in value.values()))


@contextlib.contextmanager
def _naming_undeclared_fields(stage: Stage, config: ml_collections.ConfigDict):
  """Turns a stage's AttributeError on a config field it did not declare into one naming it."""
  try:
    yield
  except AttributeError as e:
    match = re.search(r"'(\w+)'", str(e))
    if match and match.group(1) in _field_names(config):
      raise AttributeError(
          f'stage {stage.name!r} read the config field {match.group(1)!r}, which is not among '
          f'the fields it declares ({", ".join(stage.reads)}); declare it in the stage '
          'graph') from e
    raise


def record_path(workdir, name: str) -> epath.Path:
  return epath.Path(workdir) / 'stages' / f'{name}.json'


def current_record(stage: Stage, config: ml_collections.ConfigDict, workdir,
                   records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
  """`stage`'s record in `workdir`, checked against `config`, its files and the upstream
  `records`; FileNotFoundError if it has not run, StaleStageError naming what changed."""
  path = record_path(workdir, stage.name)
  if not path.exists():
    raise FileNotFoundError(f'stage {stage.name!r} has not run in {workdir} ({path} is '
                            'missing); run it first or select it too')
  record = json.loads(path.read_text())
  found = problems(stage, config, record, records)
  if found:
    raise StaleStageError(
        f'stage {stage.name!r} cannot be reused from {path}: ' + '; '.join(found) +
        f'. Run it again (select it, or start from it: --from_stage={stage.name}).')
  return record


def verify(graph: tuple[Stage, ...], config: ml_collections.ConfigDict, workdir) -> None:
  """Raises unless every stage of `graph` has a current record in `workdir` (`current_record`):
  the work dir holds a finished run of `config` on the files as they are now."""
  check_graph(graph)
  records: dict[str, dict[str, Any]] = {}
  for stage in graph:
    records[stage.name] = current_record(stage, config, workdir, records)


def run(graph: tuple[Stage, ...], config: ml_collections.ConfigDict, workdir,
        selected: list[str]) -> State:
  """Runs the `selected` stages of `graph` in order; the others' records are reused if current.

  A stage before or between the selected ones is not run: its record must exist and match
  (`problems`), else FileNotFoundError or StaleStageError says which stage to run again. The
  returned state holds every visited stage's results, and `timings` and `peak_rss_bytes`
  (this process's, reset before each stage) of those that ran.
  """
  check_graph(graph)
  last = selected[-1]
  state: State = {'timings': {}, 'peak_rss_bytes': {}}
  records: dict[str, dict[str, Any]] = {}
  for stage in graph:
    if stage.name in selected:
      start = time.perf_counter()
      peak_memory.reset()
      files = file_digests(stage, config)
      declared = manifest_lib.fingerprint({'config': config_values(stage, config),
                                           'files': files})
      with stage_lib.declared_reads(declared), _naming_undeclared_fields(stage, config):
        produced = stage.fn(stage_config(stage, config), workdir, state)
      record = make_record(stage, config, produced, records, files)
      atomic.write_text(record_path(workdir, stage.name),
                        json.dumps(record, indent=1, ensure_ascii=False) + '\n')
      state['timings'][stage.name] = round(time.perf_counter() - start, 3)
      state['peak_rss_bytes'][stage.name] = peak_memory.peak_bytes()
      logging.info('stage %s: %.1f s', stage.name, state['timings'][stage.name])
    else:
      record = current_record(stage, config, workdir, records)
    records[stage.name] = record
    state.update(record['state'])
    if stage.name == last:
      break
  return state
