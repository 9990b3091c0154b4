"""Atomic writes, manifests and the stage runner: nothing partial is ever read as complete."""

import json

import pytest

from xqg_jax.io import atomic
from xqg_jax.io import manifest
from xqg_jax.io import stage_dir


def test_atomic_write_replaces_whole_file_or_nothing(tmp_path):
  path = tmp_path / 'sub' / 'out.txt'
  atomic.write_text(path, 'first')
  with pytest.raises(RuntimeError):
    with atomic.atomic_open(path) as f:
      f.write('half of the second')
      raise RuntimeError('killed mid-write')
  assert path.read_text() == 'first'
  assert sorted(p.name for p in path.parent.iterdir()) == ['out.txt']  # temp file removed
  atomic.write_bytes(path, b'\x00\x01')
  assert path.read_bytes() == b'\x00\x01'


def test_manifest_verifies_outputs(tmp_path):
  (tmp_path / 'a.txt').write_text('a')
  config, inputs = {'k': 1}, {'up': 'digest'}
  written = manifest.write(tmp_path, stage='s', config=config, inputs=inputs, outputs=['a.txt'])
  assert written['outputs']['a.txt'] == manifest.sha256_file(tmp_path / 'a.txt')
  assert manifest.is_complete(tmp_path, config=config, inputs=inputs)
  assert not manifest.is_complete(tmp_path, config={'k': 2}, inputs=inputs)
  assert not manifest.is_complete(tmp_path, config=config, inputs={'up': 'other'})
  (tmp_path / 'a.txt').write_text('tampered')
  assert not manifest.is_complete(tmp_path, config=config, inputs=inputs)
  (tmp_path / 'manifest.json').write_text('{not json')
  with pytest.raises(ValueError, match='manifest.json: not a valid manifest'):
    manifest.read(tmp_path)


def test_stage_runs_once_and_redoes_broken_work(tmp_path):
  calls = []

  def produce(directory):
    calls.append(1)
    atomic.write_text(directory / 'out' / 'x.txt', 'x')
    return stage_dir.files_under(directory, 'out'), {'n': 1}

  first = stage_dir.run(tmp_path, stage='s', config={}, inputs={}, produce=produce)
  assert first['outputs'] == {'out/x.txt': manifest.sha256_file(tmp_path / 'out/x.txt')}
  stage_dir.run(tmp_path, stage='s', config={}, inputs={}, produce=produce)
  assert len(calls) == 1
  (tmp_path / 'out/x.txt').unlink()
  stage_dir.run(tmp_path, stage='s', config={}, inputs={}, produce=produce)
  assert len(calls) == 2
  assert json.loads((tmp_path / 'manifest.json').read_text())['extra']['n'] == 1
  with pytest.raises(FileNotFoundError, match='no manifest.json'):
    stage_dir.digest(tmp_path / 'missing')


def test_interrupted_stage_leaves_no_manifest(tmp_path):
  def produce(directory):
    atomic.write_text(directory / 'a.txt', 'a')
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    stage_dir.run(tmp_path, stage='s', config={}, inputs={}, produce=produce)
  assert manifest.read(tmp_path) is None
