r"""Fusion throughput and peak RSS: our `fusion.fuse_directory` vs a plain NumPy roofline.

Issue 5: fusing 1M passages x 35 generated questions (7 languages x 5) at dim 768. The question
embeddings alone would take 107 GB, so ONE real shard is written (`--shard_passages` passages
of random float32 embeddings, and their `len(languages) * num_queries` questions each) and
every other shard of the corpus and question directories is a symlink to it (the same ids in
every shard: fusion only needs each shard aligned with itself). `fuse_directory` thus streams
`--num_shards` full shards, logically the whole corpus; but after the first shard its reads
come from the page cache, so this measures compute and memory bandwidth, not disk reads. Its
output is real: one fused shard per input shard, fsynced to `--workdir`, and hashed for the
stage manifest (`finish_s`).

The inputs' `meta.json` is written by hand: `embedding_shards.finish` would hash every (symlinked)
shard for a manifest, which fusion does not read.

The peer, the roofline: the same formula with NumPy over the same shard files (`np.load`, a
reshape to [n, questions per passage, H] (the question shard holds exactly the chosen
questions, passage-major), the sum and the axpy), without the id parsing and alignment checks,
the finiteness checks, the gather copy and the writes of ours.

Each contender runs in a fresh spawned process, so that its peak RSS (VmHWM) is its own;
`working_set_bytes` = peak RSS - the RSS before the timed section (interpreter, imports and, for
ours, the initialised JAX CPU client), compared with the bytes of one input shard (passages +
questions): streaming by shard bounds it by a small multiple of one shard, whatever the number
of shards. GB/s is input embedding bytes (passages + questions, 1e9 bytes a GB) per wall second.
Contenders alternate over `--repeats`; best and median are reported.

Usage:
  nice python -m benchmarks.fusion_throughput --output=benchmarks/results_fusion_throughput_cpu.json
  python -m benchmarks.fusion_throughput --quick
"""

import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Sequence

from absl import app
from absl import flags
import numpy as np

if __package__ in (None, ''):  # Run as a file: make the `benchmarks` package importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import blas_env  # pylint: disable=g-import-not-at-top
from benchmarks import child_process  # pylint: disable=g-import-not-at-top
from benchmarks import common  # pylint: disable=g-import-not-at-top
from xqg_jax import languages  # pylint: disable=g-import-not-at-top

TOTAL_PASSAGES = 1_000_000
# Passages per chunk when writing the question shard (bounds the setup's memory).
_WRITE_CHUNK = 1000

_SHARD_PASSAGES = flags.DEFINE_integer('shard_passages', 10_000, 'Passages per shard.')
_NUM_SHARDS = flags.DEFINE_integer('num_shards', None,
                                   f'Shards; default: {TOTAL_PASSAGES:,} passages in all.')
_DIM = flags.DEFINE_integer('dim', 768, 'Embedding dimension.')
_LANGUAGES = flags.DEFINE_list('languages', list(languages.XOR_TYDI_LANGUAGES),
                               'Languages of the generated questions.')
_NUM_QUERIES = flags.DEFINE_integer('num_queries', 5, 'Generated questions per language.')
_ALPHA = flags.DEFINE_float('alpha', 0.01, 'Fusion weight of the questions.')
_REDUCE = flags.DEFINE_enum('reduce', 'sum', ['sum', 'mean'], 'Reduction over the questions.')
_REPEATS = flags.DEFINE_integer('repeats', 1, 'Timed runs per contender, alternating.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Parent of the temporary directory (deleted '
                               'afterwards); default: the system temp dir.')
_QUICK = flags.DEFINE_boolean('quick', False,
                              'Smoke run: 3 shards of 200 passages, dim 64, 1 repeat.')
_OUTPUT = flags.DEFINE_string('output', '', 'JSON output path; empty prints the JSON.')


def build_inputs(root: str, *, shard_passages: int, num_shards: int, dim: int,
                 langs: Sequence[str], num_queries: int, seed: int = 0) -> tuple[str, str]:
  """Corpus and generated-question embedding directories; shard 0 real, the others symlinks."""
  from xqg_jax.data.formats import generated_questions  # pylint: disable=g-import-not-at-top
  from xqg_jax.data.formats import embedding_shards  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  docids = [f'p{i:08d}' for i in range(shard_passages)]
  per_passage = len(langs) * num_queries
  dirs = []
  for name, rows, ids in (
      ('corpus', 1, docids),
      ('generated', per_passage,
       [generated_questions.question_id(d, lang, i) for d in docids for lang in langs
        for i in range(num_queries)])):
    directory = os.path.join(root, name)
    os.makedirs(directory)
    emb_path = os.path.join(directory, embedding_shards.shard_name('emb', 0, num_shards, 'npy'))
    with open(emb_path, 'wb') as f:
      np.lib.format.write_array_header_2_0(f, {'descr': '<f4', 'fortran_order': False,
                                                'shape': (len(ids), dim)})
      for start in range(0, shard_passages, _WRITE_CHUNK):
        count = min(_WRITE_CHUNK, shard_passages - start) * rows
        rng.standard_normal((count, dim), np.float32).tofile(f)
    ids_name = embedding_shards.shard_name('ids', 0, num_shards, 'txt')
    with open(os.path.join(directory, ids_name), 'w') as f:
      f.write(''.join(f'{i}\n' for i in ids))
    for kind, ext in (('emb', 'npy'), ('ids', 'txt')):
      for shard in range(1, num_shards):
        name = embedding_shards.shard_name(kind, shard, num_shards, ext)
        os.symlink(embedding_shards.shard_name(kind, 0, num_shards, ext),
                   os.path.join(directory, name))
    with open(os.path.join(directory, embedding_shards.META_JSON), 'w') as f:
      f.write(f'{{"dim": {dim}, "dtype": "float32", "num_shards": {num_shards}}}\n')
    dirs.append(directory)
  return dirs[0], dirs[1]


def run_ours(out_dir: str, corpus_dir: str, questions_dir: str, alpha: float, reduce: str,
             langs: Sequence[str], num_queries: int) -> dict[str, Any]:
  """`fusion.fuse_directory`, timed (call in a fresh process: the peak RSS is the process's)."""
  import jax  # pylint: disable=g-import-not-at-top
  from xqg_jax.augment import fusion  # pylint: disable=g-import-not-at-top
  config = fusion.FusionConfig(alpha, reduce, tuple(langs), num_queries)
  jax.process_index()  # The JAX client counts in the baseline, not in the working set.
  finish, finish_s = fusion.embedding_shards.finish, []

  def timed_finish(*args, **kwargs):  # Separates the manifest's hashing of the output.
    began = time.perf_counter()
    finish(*args, **kwargs)
    finish_s.append(time.perf_counter() - began)
  fusion.embedding_shards.finish = timed_finish
  result = child_process.timed(
      lambda: fusion.fuse_directory(out_dir, corpus_dir=corpus_dir, questions_dir=questions_dir,
                                    fusion=config, inputs={}),
      child_process.status_bytes('VmRSS'))
  return {**result, 'finish_s': sum(finish_s)}


def run_numpy(emb_paths: Sequence[tuple[str, str]], alpha: float, reduce: str,
              per_passage: int) -> tuple[dict[str, Any], np.ndarray]:
  """The formula over (passage, question) `.npy` shard pairs; timing and the last shard fused."""
  fused = None

  def fuse_all():
    nonlocal fused
    for passages_path, questions_path in emb_paths:
      passages, questions = np.load(passages_path), np.load(questions_path)
      pooled = questions.reshape(len(passages), per_passage, -1).sum(axis=1)
      if reduce == 'mean':
        pooled /= per_passage
      fused = (1.0 - alpha) * passages + alpha * pooled
      del passages, questions  # Freed before the next shard loads: one shard in memory.
  return child_process.timed(fuse_all, child_process.status_bytes('VmRSS')), fused


def _summary(runs: list[dict[str, Any]], *, input_bytes: int, num_passages: int,
             shard_bytes: int) -> dict[str, Any]:
  """Best/median throughput over `runs`, and the largest working set vs one shard."""
  walls = [r['wall_s'] for r in runs]
  best, median = min(walls), statistics.median(walls)
  working_set = max(r['peak_rss_bytes'] - r['baseline_rss_bytes'] for r in runs)
  return {
      'gb_per_s': input_bytes / best / 1e9, 'gb_per_s_median': input_bytes / median / 1e9,
      'passages_per_s': num_passages / best, 'wall_s': walls, 'best_s': best,
      'peak_rss_bytes': max(r['peak_rss_bytes'] for r in runs),
      'baseline_rss_bytes': min(r['baseline_rss_bytes'] for r in runs),
      'working_set_bytes': working_set, 'working_set_vs_shard': working_set / shard_bytes,
      'contended': any(r['contended'] for r in runs), 'runs': runs,
  }


def run(*, shard_passages: int, num_shards: int, dim: int, langs: Sequence[str],
        num_queries: int, alpha: float = 0.01, reduce: str = 'sum', repeats: int = 1,
        workdir: str | None = None) -> dict[str, Any]:
  """The whole benchmark; returns the JSON-able result."""
  from xqg_jax.data.formats import embedding_shards  # pylint: disable=g-import-not-at-top
  languages.validate(langs)
  os.environ.setdefault('JAX_PLATFORMS', 'cpu')
  per_passage = len(langs) * num_queries
  num_passages = shard_passages * num_shards
  passage_shard_bytes = shard_passages * dim * 4
  question_shard_bytes = passage_shard_bytes * per_passage
  shard_bytes = passage_shard_bytes + question_shard_bytes
  input_bytes = shard_bytes * num_shards
  t0 = time.perf_counter()
  runs = {'ours': [], 'numpy': []}
  max_abs_diff = 0.0
  with tempfile.TemporaryDirectory(prefix='fusion_bench_', dir=workdir) as root:
    began = time.perf_counter()
    corpus_dir, questions_dir = build_inputs(
        root, shard_passages=shard_passages, num_shards=num_shards, dim=dim, langs=langs,
        num_queries=num_queries)
    setup_s = time.perf_counter() - began
    emb_paths = [tuple(os.path.join(d, embedding_shards.shard_name('emb', s, num_shards, 'npy'))
                       for d in (corpus_dir, questions_dir)) for s in range(num_shards)]
    for repeat in range(repeats):
      (timing, expected), other = child_process.in_child(run_numpy, emb_paths, alpha, reduce,
                                                         per_passage)
      runs['numpy'].append({**timing, 'other_processes_cores': other,
                            'contended': other > common.CONTENDED_CORES})
      out_dir = os.path.join(root, f'fused-{repeat}')
      timing, other = child_process.in_child(run_ours, out_dir, corpus_dir, questions_dir,
                                             alpha, reduce, langs, num_queries)
      runs['ours'].append({**timing, 'other_processes_cores': other,
                           'contended': other > common.CONTENDED_CORES})
      for shard in range(num_shards):  # Every input shard is the same, so is every output.
        fused, ids = embedding_shards.load_shard(out_dir, shard)
        if len(ids) != shard_passages:
          raise AssertionError(f'{out_dir} shard {shard}: {len(ids)} passages')
        max_abs_diff = max(max_abs_diff, float(np.abs(fused - expected).max()))
      output_bytes = sum(os.path.getsize(os.path.join(out_dir, name))
                         for name in os.listdir(out_dir))
      shutil.rmtree(out_dir)
  sizes = dict(input_bytes=input_bytes, num_passages=num_passages, shard_bytes=shard_bytes)
  ours, peer = _summary(runs['ours'], **sizes), _summary(runs['numpy'], **sizes)
  return {
      'benchmark': 'fusion_throughput',
      'machine': common.machine_info(),
      'settings': {
          'shard_passages': shard_passages, 'num_shards': num_shards, 'dim': dim,
          'languages': list(langs), 'num_queries': num_queries,
          'questions_per_passage': per_passage, 'alpha': alpha, 'reduce': reduce,
          'repeats': repeats,
          'inputs': 'one real shard; every other shard of the corpus and question directories '
                    'is a symlink to it, so reads after the first shard come from the page '
                    'cache: this measures compute + memory bandwidth, not disk reads',
          'outputs': 'ours writes every fused shard (fsynced) and hashes them for its manifest '
                     '(finish_s); the numpy peer writes nothing',
          'peer': 'numpy: np.load, reshape, sum, axpy per shard; no id checks, no finiteness '
                  'checks, no gather copy, no writes',
          'gb_per_s': 'input embedding bytes (passages + questions) / best wall second, 1e9',
          'working_set': 'peak RSS (VmHWM) of the contender\'s own process minus its RSS '
                         'before the timed section',
      },
      'sizes': {'num_passages': num_passages, 'num_questions': num_passages * per_passage,
                'passage_shard_bytes': passage_shard_bytes,
                'question_shard_bytes': question_shard_bytes, 'shard_bytes': shard_bytes,
                'input_bytes': input_bytes, 'output_bytes': output_bytes},
      'ours': ours,
      'numpy': peer,
      'ratio_ours_vs_numpy': ours['gb_per_s'] / peer['gb_per_s'],
      'ratio_ours_vs_numpy_median': ours['gb_per_s_median'] / peer['gb_per_s_median'],
      'max_abs_diff_vs_numpy': max_abs_diff,
      'setup_s': setup_s,
      'parent_peak_rss_bytes': child_process.status_bytes('VmHWM'),
      'wall_s': time.perf_counter() - t0,
  }


def format_report(result: dict[str, Any]) -> str:
  """A readable summary: machine, sizes, the two contenders and their ratio."""
  m, s, z = result['machine'], result['settings'], result['sizes']
  gb = 1e9
  lines = [f'{m["cpu_model"]}, {m["schedulable_cores"]} cores, numpy {m.get("numpy_version")}; '
           f'{z["num_passages"]:,} passages x {s["questions_per_passage"]} questions x dim '
           f'{s["dim"]} in {s["num_shards"]} shards of {z["shard_bytes"] / gb:.3f} GB '
           f'(inputs {z["input_bytes"] / gb:.1f} GB, from the page cache after shard 0; '
           f'output {z["output_bytes"] / gb:.2f} GB)']
  rows = [{'name': name, **result[name]} for name in ('ours', 'numpy')]
  columns = [('name', 'contender', ''), ('gb_per_s', 'GB/s', '.2f'),
             ('gb_per_s_median', 'GB/s median', '.2f'), ('passages_per_s', 'passages/s', ',.0f'),
             ('best_s', 'wall s', '.1f'), ('finish_s', 'manifest s', '.1f'),
             ('working_set_vs_shard', 'working set / shard', '.2f')]
  rows[0]['finish_s'] = max(r['finish_s'] for r in result['ours']['runs'])
  lines.append(common.format_table(rows, columns))
  lines.append(f'ratio ours/numpy: {result["ratio_ours_vs_numpy"]:.2f} '
               f'(median {result["ratio_ours_vs_numpy_median"]:.2f}); max |ours - numpy| '
               f'{result["max_abs_diff_vs_numpy"]:.1e}')
  for name in ('ours', 'numpy'):
    r = result[name]
    lines.append(f'{name}: peak RSS {r["peak_rss_bytes"] / gb:.2f} GB, baseline '
                 f'{r["baseline_rss_bytes"] / gb:.2f} GB, working set '
                 f'{r["working_set_bytes"] / gb:.2f} GB = {r["working_set_vs_shard"]:.2f} '
                 f'shards' + (' (CONTENDED: other processes were busy)' if r['contended']
                              else ''))
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  quick = _QUICK.value
  shard_passages = 200 if quick else _SHARD_PASSAGES.value
  num_shards = 3 if quick else (_NUM_SHARDS.value or -(-TOTAL_PASSAGES // shard_passages))
  result = run(shard_passages=shard_passages, num_shards=num_shards,
               dim=64 if quick else _DIM.value, langs=_LANGUAGES.value,
               num_queries=_NUM_QUERIES.value, alpha=_ALPHA.value, reduce=_REDUCE.value,
               repeats=1 if quick else _REPEATS.value, workdir=_WORKDIR.value)
  result['settings']['quick'] = quick
  common.write_json(result, _OUTPUT.value)
  print(format_report(result), file=sys.stderr if not _OUTPUT.value else sys.stdout)


if __name__ == '__main__':
  blas_env.reexec_without_overrides()
  app.run(main)
