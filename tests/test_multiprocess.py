"""The stages under `jax.distributed`: 2 processes x 2 CPU devices (gloo on 127.0.0.1) give the
outputs of 1 process x 4 devices.

Both runs start from copies of one workdir holding the stages up to `train_xdr` (untrained),
then run `tests/multiprocess_worker.py`: train_xqg (0 steps: the untrained export and its
held-out loss), generate, encode, and one xDR training step.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import portpicker
import pytest

from launch import stages
from tests import multiprocess_worker as worker
from xqg_jax.data.formats import embedding_shards
from xqg_jax.io import manifest

_TIMEOUT_S = 540
_ADAM_B1 = 0.9  # optax.adamw's default: after one step Adam's first moment is (1 - b1) * grad
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start(workdir, out_json, log, local_devices: int, *distributed: str) -> subprocess.Popen:
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS=f'--xla_force_host_platform_device_count={local_devices}')
  with open(log, 'w') as f:
    return subprocess.Popen(
        [sys.executable, '-m', 'tests.multiprocess_worker', str(workdir), str(out_json),
         *distributed], cwd=_REPO, env=env, stdout=f, stderr=subprocess.STDOUT)


def _run_workers(tmp_path) -> dict[str, list[dict]]:
  """Runs 'one' (1 process x 4 devices) and 'two' (2 x 2) at once; their per-process JSON."""
  address = f'127.0.0.1:{portpicker.pick_unused_port()}'
  jobs = {('one', 0): (4,), **{('two', i): (2, address, '2', str(i)) for i in range(2)}}
  procs = {job: _start(tmp_path / job[0], tmp_path / f'{job[0]}{job[1]}.json',
                       tmp_path / f'{job[0]}{job[1]}.log', *args)
           for job, args in jobs.items()}
  deadline = time.monotonic() + _TIMEOUT_S
  try:
    for proc in procs.values():
      proc.wait(timeout=max(deadline - time.monotonic(), 1))
  except subprocess.TimeoutExpired:
    pass
  finally:
    for proc in procs.values():
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  codes = {job: proc.returncode for job, proc in procs.items()}
  if any(codes.values()):
    logs = '\n'.join(f'===== {run} process {i} (exit {codes[run, i]}) =====\n'
                     + (tmp_path / f'{run}{i}.log').read_text()[-8000:] for run, i in procs)
    pytest.fail(f'workers failed or passed {_TIMEOUT_S} s:\n{logs}')
  return {run: [json.loads((tmp_path / f'{run}{i}.json').read_text())
                for i in range(count)] for run, count in (('one', 1), ('two', 2))}


def _restore(path) -> dict:
  """An orbax checkpoint as numpy arrays (the saving devices need not exist here)."""
  with ocp.PyTreeCheckpointer() as checkpointer:
    tree = checkpointer.metadata(path).item_metadata.tree
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    return checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))


def _check_embeddings(one, two) -> None:
  assert (one / 'meta.json').read_text() == (two / 'meta.json').read_text()
  n = embedding_shards.num_shards_of(one)
  assert (manifest.read(one)['outputs'].keys() == manifest.read(two)['outputs'].keys()
          == {'meta.json'} | {embedding_shards.shard_name(kind, s, n, ext) for s in range(n)
                              for kind, ext in (('emb', 'npy'), ('ids', 'txt'))})
  for shard in range(embedding_shards.num_shards_of(one)):
    emb_one, ids_one = embedding_shards.load_shard(one, shard)
    emb_two, ids_two = embedding_shards.load_shard(two, shard)
    assert ids_one == ids_two
    np.testing.assert_allclose(emb_two, emb_one, rtol=0, atol=1e-5)
  assert np.std(embedding_shards.load(one)[0], axis=0).mean() > 1e-3  # rows differ far beyond atol


def _check_one_step(one, two) -> None:
  """One xDR step: same metrics, gradients, and weights wherever Adam's step is well-posed.

  Adam's first step moves a weight by lr * g / (|g| + eps), about lr * sign(g). Where |g| is
  near the rounding noise of the cross-device gradient sum (a few 1e-6 here, as much as
  between 1 and 4 devices in one process), that noise can flip the step, so weights are
  compared where |g| > 1e-5 (a fifth of them).
  """
  rows = [json.loads((run / 'xdr' / 'metrics.jsonl').read_text()) for run in (one, two)]
  assert rows[0]['step'] == rows[1]['step'] == 1
  for key in ('loss', 'accuracy', 'margin', 'temperature', 'learning_rate', 'grad_norm'):
    assert rows[1][key] == pytest.approx(rows[0][key], rel=1e-5, abs=1e-7), key
  state_one, state_two = (_restore(run / 'xdr' / 'checkpoints' / '1' / 'default')
                          for run in (one, two))
  assert int(state_one['step']) == int(state_two['step']) == 1
  # opt_state = (clip state, (Adam state, ...)): `optimizer.make`'s chain.
  grads = [jax.tree.map(lambda mu: np.asarray(mu) / (1 - _ADAM_B1), s['opt_state'][1][0]['mu'])
           for s in (state_one, state_two)]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(b, a, rtol=0, atol=1e-5), *grads)
  settled = jax.tree.map(lambda g: np.abs(g) > 1e-5, grads[0])
  assert sum(m.sum() for m in jax.tree.leaves(settled)) > 0.1 * sum(
      m.size for m in jax.tree.leaves(settled))
  jax.tree.map(lambda a, b, m: np.testing.assert_allclose(b[m], a[m], rtol=0, atol=1e-6),
               state_one['params'], state_two['params'], settled)


def test_two_processes_match_one_process(tmp_path):
  config = worker.config_for_test()
  state = {}
  for name in worker.PREPARED:
    state.update(stages.BY_NAME[name].fn(config, tmp_path / 'prepared', state))
  for run in ('one', 'two'):
    shutil.copytree(tmp_path / 'prepared', tmp_path / run)

  results = _run_workers(tmp_path)

  assert [(r['process_index'], r['process_count'], r['device_count'], r['local_device_count'])
          for r in results['one'] + results['two']] == [(0, 1, 4, 4), (0, 2, 4, 2), (1, 2, 4, 2)]
  for result in results['one'] + results['two']:
    assert list(result['complete']) == list(worker.STAGES) + [worker.ONE_STEP]
    # On every process a stage returns only once its manifests are written.
    assert all(all(done.values()) for done in result['complete'].values()), result['complete']
    assert max(result['seconds'][name] for name in worker.PREPARED) < 5, 'prepared: skipped'

  one, two = tmp_path / 'one', tmp_path / 'two'
  xqg = [manifest.read(run / 'xqg') for run in (one, two)]
  assert ({k: v for k, v in xqg[1]['outputs'].items() if k.startswith('hf/')}
          == {k: v for k, v in xqg[0]['outputs'].items() if k.startswith('hf/')})
  for key in ('untrained', 'trained'):
    assert xqg[1]['extra']['heldout_loss'][key] == pytest.approx(
        xqg[0]['extra']['heldout_loss'][key], rel=1e-6)
  generated = [manifest.read(run / 'generated') for run in (one, two)]
  assert len(generated[0]['outputs']) == config.data.num_corpus_shards
  assert generated[1]['outputs'] == generated[0]['outputs']  # byte-identical text
  counts = generated[0]['extra']['counts']
  assert generated[1]['extra']['counts'] == counts and counts['empty'] < counts['questions']
  for name in ('corpus', 'queries-dev', 'queries-test', 'xqg'):
    _check_embeddings(one / 'embeddings' / name, two / 'embeddings' / name)
  # Process 0 of 'two' encoded the corpus shards 0 and 2 of 3; manifests come from process 0.
  corpus_rows = len(embedding_shards.load(one / 'embeddings' / 'corpus')[1])
  stats = [manifest.read(run / 'embeddings' / 'corpus')['extra']['this_process']['rows']
           for run in (one, two)]
  ranges = embedding_shards.shard_ranges(corpus_rows, config.data.num_corpus_shards)
  assert stats == [corpus_rows, sum(stop - start for start, stop in ranges[::2])]
  _check_one_step(one / worker.ONE_STEP, two / worker.ONE_STEP)
