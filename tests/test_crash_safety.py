"""Crash safety (issue 7): SIGKILL inside training, generate, encode and fuse, then re-run.

One uninterrupted reference run of the small pipeline (to `evaluate`), and one workdir whose
run is killed at each point of `KILLS` in turn (`tests/crash_worker.py`: checkpoints, the
metrics rewrite on resume, the HF export, shard writes, a manifest), re-running the same
command after every kill, then once more to completion. Its every manifest output (xDR
weights, generated JSONL, embedding and fused shards, index, runs, results) must be
byte-identical to the reference, and after every kill no manifest, shard marker or final file
name may stand for a partial file. The stages before xDR training and the (untrained) xQG
model are copied from the reference, they are not under test; all runs share one JAX
compilation cache to keep restarts cheap.
"""

import itertools
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from xqg_jax.data.formats import augmented
from xqg_jax.data.formats import trec_run
from xqg_jax.io import atomic
from xqg_jax.io import manifest

REPO = pathlib.Path(__file__).resolve().parents[1]
UNTIL = 'evaluate'
UPSTREAM = ('data', 'tokenizers', 'tfds', 'xqg_pretrain', 'xqg')  # copied from the reference run
FUSED = 'fused/xqg/xqg-sum-*-jakm'  # the first fused corpus: xQG, every language summed

# (XQG_KILL_AT, globs that must exist right after the kill, globs that must not).
KILLS = (
    ('checkpoint:xdr/checkpoints/2:after',  # mid-training, after the first checkpoint
     ['xdr/checkpoints/2'], ['xdr/checkpoints/4', 'xdr/hf', 'xdr/manifest.json']),
    ('file:xdr/metrics.jsonl:during',  # on resume, rewriting the history up to step 2
     ['xdr/metrics.jsonl', 'xdr/.metrics.jsonl.tmp-*'], ['xdr/checkpoints/4']),
    ('checkpoint:xdr/checkpoints/4:during',  # the last checkpoint written, not committed
     ['xdr/checkpoints/4.orbax-checkpoint-tmp*'], ['xdr/checkpoints/4', 'xdr/manifest.json']),
    ('dir:xdr/hf/encoder:during',  # the HF export written, not renamed
     ['xdr/checkpoints/4', 'xdr/hf/.encoder.tmp-*'], ['xdr/hf/encoder', 'xdr/manifest.json']),
    ('file:generated/generated-00001-of-00003.jsonl:during',  # shard 0 done, shard 1 mid-write
     ['generated/generated-00000-of-00003.jsonl', 'generated/.generated-00001-*.tmp-*'],
     ['generated/generated-00001-of-00003.jsonl', 'generated/manifest.json']),
    ('file:embeddings/corpus/emb-00001-of-00003.npy:after',  # shard 1's ids not yet written
     ['embeddings/corpus/ids-00000-of-00003.txt', 'embeddings/corpus/emb-00001-of-00003.npy'],
     ['embeddings/corpus/ids-00001-of-00003.txt', 'embeddings/corpus/manifest.json']),
    ('file:embeddings/xqg/manifest.json:before',  # every shard done, no manifest
     ['embeddings/xqg/ids-00002-of-00003.txt', 'embeddings/xqg/meta.json'],
     ['embeddings/xqg/manifest.json']),
    (f'file:{FUSED}/emb-00001-of-00003.npy:during',  # fused shard 0 done, shard 1 mid-write
     [f'{FUSED}/ids-00000-of-00003.txt', f'{FUSED}/.emb-00001-*.tmp-*'],
     [f'{FUSED}/emb-00001-of-00003.npy', f'{FUSED}/manifest.json']),
)


def _is_temp(name: str) -> bool:
  return any(atomic.is_temporary(part) or 'orbax-checkpoint-tmp' in part
             for part in pathlib.PurePath(name).parts)


def _problems(workdir: pathlib.Path) -> list[str]:
  """Ways a reader could take a partial file as complete (empty when there are none)."""
  problems = []
  for path in workdir.rglob(manifest.MANIFEST_NAME):
    directory = path.parent
    for name, digest in manifest.read(directory)['outputs'].items():
      if _is_temp(name):
        problems.append(f'{path} lists the temporary file {name}')
      elif not (directory / name).exists() or manifest.sha256_file(directory / name) != digest:
        problems.append(f'{path}: {name} does not verify')
  rows = {}
  for path in workdir.rglob('emb-*.npy'):
    try:
      rows[path] = np.load(path).shape[0]
    except (OSError, ValueError) as e:
      problems.append(f'{path}: unreadable ({e})')
  for ids_path in workdir.rglob('ids-*.txt'):  # an ids file marks its shard complete
    emb_path = ids_path.with_name(ids_path.name.replace('ids-', 'emb-')).with_suffix('.npy')
    if rows.get(emb_path) != len(ids_path.read_text().splitlines()):
      problems.append(f'{ids_path}: its shard {emb_path.name} is missing or partial')
  for path in workdir.glob('generated/generated-*.jsonl'):
    try:
      list(augmented.read_augmented(path))
    except Exception as e:  # pylint: disable=broad-exception-caught
      problems.append(f'{path}: unreadable ({e})')
  return problems


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """`run(workdir, kill_at=None) -> exit code` through one `tests.crash_worker` process."""
  logs = tmp_path_factory.mktemp('logs')
  env = {**os.environ, 'JAX_COMPILATION_CACHE_DIR': str(tmp_path_factory.mktemp('jax_cache')),
         'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0',
         'JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES': '0'}
  worker = subprocess.Popen([sys.executable, '-m', 'tests.crash_worker'], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
  count = itertools.count()

  def run_one(workdir, kill_at=None) -> int:
    log = logs / f'{next(count):02d}.log'
    worker.stdin.write(json.dumps({'workdir': str(workdir), 'until': UNTIL,
                                   'kill_at': kill_at, 'log': str(log)}) + '\n')
    worker.stdin.flush()
    code = int(worker.stdout.readline())
    assert code in (0, -signal.SIGKILL), log.read_text()[-4000:]
    return code

  yield run_one
  worker.stdin.close()
  worker.wait(timeout=60)


@pytest.fixture(scope='module')
def reference(tmp_path_factory, run) -> pathlib.Path:
  workdir = tmp_path_factory.mktemp('reference')
  assert run(workdir) == 0
  return workdir


@pytest.fixture(scope='module')
def crashed(tmp_path_factory, run, reference) -> tuple[pathlib.Path, dict]:
  """(workdir, {kill point: (exit code, missing globs, unexpected globs, problems)})."""
  workdir = tmp_path_factory.mktemp('crashed')
  for name in UPSTREAM:
    shutil.copytree(reference / name, workdir / name)
  after = {}
  for kill_at, present, absent in KILLS:
    code = run(workdir, kill_at)
    after[kill_at] = (code, [g for g in present if not list(workdir.glob(g))],
                      [g for g in absent if list(workdir.glob(g))], _problems(workdir))
  assert run(workdir) == 0
  return workdir, after


@pytest.mark.parametrize('kill_at', [kill[0] for kill in KILLS])
def test_killed_where_asked_and_nothing_partial_looks_complete(crashed, kill_at):
  code, missing, unexpected, problems = crashed[1][kill_at]
  assert code == -signal.SIGKILL
  assert not missing, f'expected after the kill: {missing}'
  assert not unexpected, f'not expected after the kill: {unexpected}'
  assert not problems


def test_every_output_identical_to_uninterrupted_run(reference, crashed):
  workdir = crashed[0]
  manifests = sorted(str(p.relative_to(reference)) for p in reference.rglob('manifest.json'))
  assert manifests == sorted(str(p.relative_to(workdir)) for p in workdir.rglob('manifest.json'))
  assert any(m.startswith('embeddings/') for m in manifests)
  for name in manifests:
    want, got = (json.loads((d / name).read_text()) for d in (reference, workdir))
    assert got['outputs'] == want['outputs'], name
    assert got['inputs'] == want['inputs'], name
  assert not _problems(workdir)


def test_runs_and_metrics_identical(reference, crashed):
  workdir = crashed[0]
  evals = sorted(p.parent.relative_to(reference)
                 for p in reference.glob('eval/*/*/exact/run.trec'))
  assert len(evals) == 10  # xDR, xQG and the oracle fused two ways; two splits
  for directory in evals:
    assert (trec_run.read_run(workdir / directory / 'run.trec')
            == trec_run.read_run(reference / directory / 'run.trec'))
    want, got = (json.loads((d / directory / 'results.json').read_text())
                 for d in (reference, workdir))
    assert got['R@2kt'] == want['R@2kt'] and got['R@5kt'] == want['R@5kt']
    assert got == want


def test_training_resumed_exactly(reference, crashed):
  """The losses logged across the killed xDR runs are those of one uninterrupted run."""
  def losses(workdir):
    lines = (workdir / 'xdr/metrics.jsonl').read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if not k.endswith('_per_s')}
            for line in lines]

  assert losses(crashed[0]) == losses(reference)
