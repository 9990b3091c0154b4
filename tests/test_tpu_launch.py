"""Cloud TPU VM launch (`launch/tpu/`): the exact gcloud commands `--dry_run` prints, and the
package's IO on `gs://` paths, served offline by an in-memory stand-in for gcsfs."""

import json
import pathlib
import re
import subprocess
import sys

from etils import epath
from etils.epath import backend as epath_backend
from fsspec.implementations import memory
import ml_collections
import numpy as np
import pytest

from launch.tpu import commands
from xqg_jax.configs import base
from xqg_jax.augment import fusion
from xqg_jax.data import prepare
from xqg_jax.data import tfds_builders
from xqg_jax.data import tokenizers
from xqg_jax.data.formats import embedding_shards
from xqg_jax.data.formats import generated_questions
from xqg_jax.io import atomic
from xqg_jax.training import metrics

ROOT = pathlib.Path(__file__).resolve().parents[1]
TPU = ['--name=xqg', '--zone=us-central2-b', '--project=my-proj']
GCLOUD = 'gcloud compute tpus tpu-vm'
WHERE = '--zone=us-central2-b --project=my-proj'
SETUP = ('curl -LsSf https://astral.sh/uv/0.13.9/install.sh | sh && '
         '$HOME/.local/bin/uv venv --allow-existing --python 3.11 xqg-venv && '
         "$HOME/.local/bin/uv pip install --python xqg-venv/bin/python -e './xqg-jax[tpu]' gcsfs")


def _cli(*args):
  # --dry_run first: anything after a `--` in args is passed to the stage.
  return subprocess.run([sys.executable, '-m', 'launch.tpu.tpu_vm', '--dry_run', *args],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)


def _printed(*args) -> list[str]:
  out = _cli(*args)
  assert out.returncode == 0, out.stderr[-2000:]
  return out.stdout.splitlines()


def _fails(*args) -> str:
  out = _cli(*args)
  assert out.returncode != 0 and not out.stdout
  return out.stderr


def test_create_single_host():
  assert _printed('create', *TPU, '--accelerator_type=v4-8',
                  '--runtime_version=tpu-ubuntu2204-base') == [
      f'{GCLOUD} create xqg --accelerator-type=v4-8 --version=tpu-ubuntu2204-base {WHERE}']


def test_create_spot_pod_slice():
  assert _printed('create', *TPU, '--accelerator_type=v5litepod-16',
                  '--runtime_version=v2-alpha-tpuv5-lite', '--spot') == [
      f'{GCLOUD} create xqg --accelerator-type=v5litepod-16 --version=v2-alpha-tpuv5-lite '
      f'--spot {WHERE}']


def test_install_copies_the_committed_checkout_to_every_worker():
  printed = _printed('install', *TPU)
  archive = printed[0].split('--output=')[1].split()[0]
  scratch = pathlib.Path(archive).parent  # A fresh private directory, never a fixed /tmp path.
  assert scratch.name.startswith('xqg-tpu-') and scratch.is_dir()
  assert oct(scratch.stat().st_mode & 0o777) == '0o700'
  scratch.rmdir()
  assert printed == [
      f'git -C {ROOT} archive --format=tar.gz --output={archive} HEAD',
      f'{GCLOUD} scp {archive} xqg:xqg-jax.tar.gz --worker=all {WHERE}',
      f"{GCLOUD} ssh xqg --worker=all --command 'rm -rf xqg-jax && mkdir xqg-jax && "
      f"tar -xzf xqg-jax.tar.gz -C xqg-jax && "
      + SETUP.replace("'", "'\"'\"'") + f"' {WHERE}"]


def test_install_clones_a_ref():
  line, = _printed('install', *TPU, '--repo_url=https://example.com/x.git', '--ref=v0.1')
  assert line == (f"{GCLOUD} ssh xqg --worker=all --command 'rm -rf xqg-jax && git clone "
                  '--quiet https://example.com/x.git xqg-jax && git -C xqg-jax checkout '
                  "--quiet v0.1 && " + SETUP.replace("'", "'\"'\"'") + f"' {WHERE}")


def test_run_on_every_worker_of_a_pod_slice():
  line, = _printed('run', *TPU, '--accelerator_type=v4-32', '--stage=train_xdr',
                   '--config=base', '--workdir=gs://bucket/run', '--',
                   '--config.xdr.batch_size=256', '--config.name=a b')
  assert line == (f"{GCLOUD} ssh xqg --worker=all --command 'cd xqg-jax && "
                  '../xqg-venv/bin/python -m launch.train_xdr --config=base '
                  '--workdir=gs://bucket/run --config.xdr.batch_size=256 '
                  "'\"'\"'--config.name=a b'\"'\"'' " + WHERE)


def test_run_single_host_local_workdir():
  line, = _printed('run', *TPU, '--accelerator_type=v4-8', '--stage=pipeline',
                   '--config=tiny', '--workdir=runs/tiny')
  assert line == (f"{GCLOUD} ssh xqg --worker=all --command 'cd xqg-jax && ../xqg-venv/bin/"
                  "python -m launch.pipeline --config=tiny --workdir=runs/tiny' " + WHERE)


def test_collect():
  assert _printed('collect', *TPU, '--workdir=gs://bucket/run/', '--dest=out',
                  '--paths=reports,xdr/metrics.jsonl') == [
      'mkdir -p out',
      'gcloud storage cp --recursive gs://bucket/run/reports out',
      'gcloud storage cp --recursive gs://bucket/run/xdr/metrics.jsonl out']
  assert _printed('collect', *TPU, '--workdir=runs/tiny', '--dest=out') == [
      'mkdir -p out',
      f'{GCLOUD} scp --recurse xqg:xqg-jax/runs/tiny/reports out --worker=0 {WHERE}']


def test_delete():
  assert _printed('delete', *TPU) == [f'{GCLOUD} delete xqg --quiet {WHERE}']


@pytest.mark.parametrize('args, message', [
    (('create', *TPU, '--accelerator_type=v4_8', '--runtime_version=r'),
     "unknown accelerator type 'v4_8'"),
    (('create', *TPU, '--accelerator_type=v7-8', '--runtime_version=r'),
     "unknown accelerator type 'v7-8'"),
    (('create', '--name=xqg', '--accelerator_type=v4-8'),
     'create needs --zone, --project, --runtime_version'),
    (('run', *TPU, '--stage=train_xdr', '--config=base'),
     'run needs --accelerator_type, --workdir'),
    (('run', *TPU, '--accelerator_type=v4-32', '--stage=train_xdr', '--config=base',
      '--workdir=/tmp/run'), 'share outputs only through a gs:// workdir'),
    (('run', *TPU, '--accelerator_type=v4-8', '--stage=stages', '--config=base',
      '--workdir=w'), "unknown stage 'stages'"),
    (('delete', *TPU, '--', '--config.seed=1'), 'unexpected arguments'),
    (('resize', *TPU), 'the first argument must be one of create, install, run'),
])
def test_usage_errors(args, message):
  assert message in _fails(*args)


def test_stages_are_the_launch_mains_with_config_and_workdir():
  mains = [p.stem for p in (ROOT / 'launch').glob('*.py')
           if re.search(r'define_config_flag\(|run_to_stage\.run\(', p.read_text())]
  assert sorted(commands.STAGES) == sorted(set(mains) - {'run_to_stage'})


def test_multi_host_slices():
  assert not any(map(commands.is_multi_host, ('v2-8', 'v4-8', 'v5p-8', 'v5litepod-8', 'v6e-4')))
  assert all(map(commands.is_multi_host, ('v3-32', 'v4-16', 'v5p-16', 'v5litepod-16')))


class _FakeGcs(memory.MemoryFileSystem):
  """gcsfs stand-in: objects in memory under their full gs:// names; no appends."""

  def _open(self, path, mode='rb', **kwargs):
    if 'a' in mode:
      raise NotImplementedError('GCS objects cannot be appended to')
    return super()._open(path, mode, **kwargs)


@pytest.fixture
def gcs(monkeypatch):
  """Routes every gs:// path of etils.epath to a fresh in-memory store."""
  fake = _FakeGcs()
  fake.store, fake.pseudo_dirs = {}, ['']
  fsspec_backend = epath_backend._FileSystemSpecBackend  # pylint: disable=protected-access
  monkeypatch.setattr(fsspec_backend, 'fs', lambda self, path: fake)
  yield epath.Path('gs://bucket/run')
  assert fake.store  # Something went through the fake.


def _write_embeddings(directory, shards):
  n = len(shards)
  for s, (emb, ids) in enumerate(shards):
    with atomic.atomic_open(directory / embedding_shards.shard_name('emb', s, n, 'npy'), 'wb',
                            encoding=None) as f:
      np.save(f, emb.astype(np.float32))
    atomic.write_text(directory / embedding_shards.shard_name('ids', s, n, 'txt'),
                      ''.join(f'{i}\n' for i in ids))
  embedding_shards.finish(directory, n, stage_name='emb', stage_config={}, inputs={}, extra={})


def test_embeddings_and_fusion_on_gcs(gcs):
  rng = np.random.default_rng(0)
  corpus = [(rng.normal(size=(2, 4)), ['d0', 'd1']), (rng.normal(size=(1, 4)), ['d2'])]
  questions = []
  for _, ids in corpus:
    qids = [generated_questions.question_id(d, 'ja', 0) for d in ids]
    questions.append((rng.normal(size=(len(qids), 4)), qids))
  _write_embeddings(gcs / 'corpus', corpus)
  _write_embeddings(gcs / 'generated', questions)
  assert json.loads((gcs / 'corpus' / embedding_shards.META_JSON).read_text())['dim'] == 4
  emb, ids = embedding_shards.load(gcs / 'corpus')
  np.testing.assert_array_equal(emb, np.concatenate([e for e, _ in corpus]).astype(np.float32))
  assert ids == ['d0', 'd1', 'd2']
  out = fusion.fuse_directory(gcs / 'fused', corpus_dir=gcs / 'corpus',
                              questions_dir=gcs / 'generated',
                              fusion=fusion.FusionConfig(0.5, 'sum', ('ja',), 1), inputs={})
  fused, fused_ids = embedding_shards.load(out)
  assert fused_ids == ids
  np.testing.assert_allclose(fused, 0.5 * emb + 0.5 * embedding_shards.load(gcs / 'generated')[0],
                             rtol=1e-6)


def test_tokenizer_on_gcs(gcs, tmp_path):
  texts = ['the quick brown fox', 'jumps over the lazy dog', '東京 ភ្នំពេញ'] * 20
  local = tokenizers.train_wordpiece(texts, 200, tmp_path / 'tok')
  assert not tokenizers.tokenizer_exists(gcs / 'tok')
  tokenizers.train_wordpiece(texts, 200, gcs / 'tok')
  assert tokenizers.tokenizer_exists(gcs / 'tok')
  remote = tokenizers.load_tokenizer(str(gcs / 'tok'))
  assert remote.name_or_path == 'gs://bucket/run/tok'
  assert remote('the lazy fox')['input_ids'] == local('the lazy fox')['input_ids']
  with pytest.raises(FileNotFoundError, match='does not exist'):
    tokenizers.load_tokenizer('gs://bucket/run/none')


def test_metrics_on_gcs_keep_every_row(gcs):
  writer = metrics.MetricsWriter(gcs / 'xdr/metrics.jsonl', examples_per_step=8)
  for step in (1, 2, 3):
    writer.write(step, {'loss': 1.0 / step})
  resumed = metrics.MetricsWriter(gcs / 'xdr/metrics.jsonl', examples_per_step=8,
                                  start_step=2)
  resumed.write(3, {'loss': 0.25})
  rows = [json.loads(line) for line in (gcs / 'xdr/metrics.jsonl').read_text().splitlines()]
  assert [(r['step'], r['loss']) for r in rows] == [(1, 1.0), (2, 0.5), (3, 0.25)]


def test_datasets_and_manual_files_on_gcs(gcs):
  manual = gcs / 'manual'
  files = {'corpus.tsv': 'id\ttext\ttitle\np0\tCairo is in Egypt.\tCairo\n',
           'queries/dev.jsonl': json.dumps({'id': 'q0', 'question': 'Cairo?',
                                            'answers': ['Cairo'], 'lang': 'ar'}) + '\n'}
  for name, text in files.items():
    atomic.write_text(manual / name, text)
  builder = tfds_builders.build('xor_corpus', manual, gcs / 'tfds')
  assert builder.info.splits['corpus'].num_examples == 1
  assert (gcs / 'tfds/xor_corpus/1.0.0/dataset_info.json').exists()
  assert tfds_builders.build('xor_corpus', manual, gcs / 'tfds').is_prepared()
  config = base.get_config()
  config.data.source = 'files'
  config.data.files.corpus = str(manual / 'corpus.tsv')
  config.data.files.dev = str(manual / 'queries/dev.jsonl')
  data = prepare.data_dir(config, gcs / 'work')  # gs:// has no links: the files are copied
  assert (data / 'corpus.tsv').read_text() == files['corpus.tsv']
  digest = prepare.data_digest(data)
  atomic.write_text(manual / 'corpus.tsv', files['corpus.tsv'].replace('Egypt', 'Libya'))
  data = prepare.data_dir(config, gcs / 'work')
  assert prepare.data_digest(data) != digest  # same size: the content is digested
  assert 'Libya' in (data / 'corpus.tsv').read_text()


def test_a_torn_last_metrics_line_is_dropped_on_resume(tmp_path):
  path = tmp_path / 'metrics.jsonl'
  path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.5}\n{"step": 3, "lo')
  metrics.MetricsWriter(path, examples_per_step=1, start_step=2)
  assert [json.loads(line) for line in path.read_text().splitlines()] == [
      {'step': 1, 'loss': 1.0}, {'step': 2, 'loss': 0.5}]
  path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "lo\n{"step": 3, "loss": 0.25}\n')
  with pytest.raises(ValueError, match=r'metrics\.jsonl:2: not a JSON metrics row'):
    metrics.MetricsWriter(path, examples_per_step=1, start_step=3)
