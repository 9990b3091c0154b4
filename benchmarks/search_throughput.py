r"""Search throughput at equal recall: ScaNN (ours) vs exact search and FAISS HNSW / IVF-PQ.

Data: `rows` x `dim` float32 vectors from a two-level Gaussian mixture shaped like DPR-style
CLS embeddings, not L2-normalised (norms are MEAN_NORM.. below): a shared mean component
(embeddings are anisotropic); `topics` topic centres whose sizes follow a power law (Zipf,
exponent 1: topic r holds ~1/r of the sub-clusters); sub-clusters of ~`subcluster_size`
vectors around offsets from their topic centre (a passage's near neighbours); within each,
noise with a decaying spectrum (variance of direction i ~ 1/i^0.5); everything rotated by a
random orthogonal matrix, so no coordinate axis is special to a product quantizer. Queries are
data vectors (drawn uniformly, so dense topics get more queries) plus fresh noise at 0.7x the
data noise. Deterministic from `--seed`.

Ground truth: exact top-`k` by NumPy (float32 BLAS matmul per corpus chunk + argpartition).
Contenders, all with the same thread count, all answering the same `queries` in one batch:
  exact_numpy   the ground-truth computation itself
  exact_jax     `xqg_jax.index.exact.search` (one device, chunked matmul + lax.top_k)
  scann         `xqg_jax.index.scann_index` (k-means tree + 4-bit asymmetric hashing with
                anisotropic loss + exact re-scoring); sweep leaves_to_search x reorder_k
  faiss_hnsw    `IndexHNSWFlat` on the DPR MIPS->L2 transform (an extra coordinate
                sqrt(max|x|^2 - |x|^2); queries get 0), as DPR's HNSW indexer does; efSearch
  faiss_ivfpq   `index_factory(--ivfpq)`, inner product; default IVF + 4-bit fast-scan PQ
                with 2 dimensions per code (ScaNN's quantization budget) and an exact
                re-ranking (`RFlat`); sweep nprobe x k_factor
Each point: build time once, then 1 warm-up call and the best of `--repeats` calls of all
queries; recall@k against the ground truth. Per method the fastest point with recall >=
`--target_recall` is re-timed with the others interleaved (so load changes hit all of them),
and the ratios ScaNN/exact and ScaNN/best FAISS come from those timings.

Usage:
  nice python -m benchmarks.search_throughput --output=benchmarks/results_search_throughput_cpu.json
  python -m benchmarks.search_throughput --quick
"""

from importlib import metadata
import os
import sys
import time
from typing import Any, Callable

from absl import app
from absl import flags

if __package__ in (None, ''):  # Run as a file: make the `benchmarks` package importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import blas_env  # pylint: disable=g-import-not-at-top
from benchmarks import common  # pylint: disable=g-import-not-at-top

METHODS = ('exact_numpy', 'exact_jax', 'scann', 'faiss_hnsw', 'faiss_ivfpq')
# Issue targets at equal recall: ScaNN queries/s over exact (the faster exact) and over the
# best FAISS method.
TARGET_OVER_EXACT = 10.0
TARGET_OVER_FAISS = 1.0
# Data geometry (vector norms): shared mean, topic centres, sub-cluster offsets from their
# topic centre, within-sub-cluster noise; query noise relative to the data noise.
MEAN_NORM, TOPIC_NORM, SUBCLUSTER_NORM, NOISE_NORM, QUERY_NOISE = 1.0, 1.0, 0.6, 0.4, 0.7

_ROWS = flags.DEFINE_integer('rows', 500_000, 'Corpus vectors.')
_DIM = flags.DEFINE_integer('dim', 768, 'Vector dimension.')
_QUERIES = flags.DEFINE_integer('queries', 1_000, 'Queries, answered in one batch.')
_K = flags.DEFINE_integer('k', 100, 'Neighbours per query (recall@k).')
_TOPICS = flags.DEFINE_integer('topics', 1_000, 'Topics (Zipf-sized groups of sub-clusters).')
_SUBCLUSTER = flags.DEFINE_integer('subcluster_size', 50, 'Mean vectors per sub-cluster.')
_SEED = flags.DEFINE_integer('seed', 0, 'Data seed.')
_THREADS = flags.DEFINE_integer('threads', 0, 'Threads for every method; 0: all usable cores.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed calls per sweep point (best is kept).')
_FINAL_REPEATS = flags.DEFINE_integer('final_repeats', 3,
                                      'Interleaved timed calls of each method\'s best point.')
_TARGET_RECALL = flags.DEFINE_float('target_recall', 0.95, 'Recall@k a point must reach.')
_EXACT_CHUNK = flags.DEFINE_integer('exact_chunk', 65_536, 'Corpus rows per exact step.')
_NUM_LEAVES = flags.DEFINE_integer('scann_num_leaves', 2_000, 'ScaNN k-means leaves.')
_TRAIN_SAMPLE = flags.DEFINE_integer('scann_training_sample', 250_000,
                                     'ScaNN rows sampled to train the tree and quantizer.')
_DIMS_PER_BLOCK = flags.DEFINE_integer('scann_dims_per_block', 2, 'ScaNN AH dims per code.')
_AQ_THRESHOLD = flags.DEFINE_float('scann_aq_threshold', 0.2,
                                   'ScaNN anisotropic quantization threshold.')
_LEAVES = flags.DEFINE_list('scann_leaves', ['20', '40', '60', '80', '120', '160', '250'],
                            'ScaNN leaves_to_search sweep.')
_REORDER = flags.DEFINE_list('scann_reorder', ['200', '400', '800'], 'ScaNN reorder_k sweep.')
_HNSW_M = flags.DEFINE_integer('hnsw_m', 32, 'HNSW neighbours per node.')
_HNSW_EFC = flags.DEFINE_integer(
    'hnsw_ef_construction', 128, 'HNSW efConstruction (DPR\'s HNSW indexer uses 200; 128 '
    'keeps the 500k x 768 build near 15 min on 2 shared cores).')
_HNSW_EF = flags.DEFINE_list('hnsw_ef', ['100', '150', '200', '300', '500', '800'],
                             'HNSW efSearch sweep (>= k).')
_HNSW_MAX_BUILD = flags.DEFINE_float(
    'hnsw_max_build_s', 2_400.0, 'Skip HNSW when its build, extrapolated from the first '
    'tenth of the rows, would take longer than this.')
_IVFPQ = flags.DEFINE_string('ivfpq', 'IVF{nlist},PQ{half}x4fs,RFlat',
                             'FAISS index_factory string ({nlist}, {half}: dim/2 filled in).')
_NLIST = flags.DEFINE_integer('ivf_nlist', 2_000, 'IVF lists.')
_NPROBE = flags.DEFINE_list('ivf_nprobe', ['10', '20', '40', '60', '100', '150', '250'],
                            'IVF nprobe sweep.')
_K_FACTOR = flags.DEFINE_list('ivf_k_factor', ['2', '4', '8'],
                              'RFlat k_factor sweep (candidates re-ranked = k_factor * k).')
_QUICK = flags.DEFINE_boolean('quick', False, 'Smoke run: 10k x 64 vectors, 100 queries, 100 '
                              'topics, 1 repeat, two points per sweep (the second '
                              'searches everything).')
_OUTPUT = flags.DEFINE_string('output', '', 'JSON output path; empty prints the JSON.')


def make_data(rows: int, dim: int, queries: int, topics: int, subcluster_size: int,
              seed: int):
  """(corpus [rows, dim], queries [queries, dim]) float32 as the module docstring says."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)

  def directions(n, norm):  # n random vectors of about `norm` length.
    return norm * rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
  rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
  spectrum = (np.arange(1, dim + 1) ** -0.25).astype(np.float32)  # std; variance ~ i^-0.5
  spectrum *= NOISE_NORM / np.linalg.norm(spectrum)
  mean = directions(1, MEAN_NORM)[0]
  num_sub = max(1, rows // subcluster_size)
  zipf = 1.0 / np.arange(1, topics + 1)
  topic = rng.choice(topics, size=num_sub, p=zipf / zipf.sum())
  centres = directions(topics, TOPIC_NORM)[topic] + directions(num_sub, SUBCLUSTER_NORM)
  label = rng.integers(0, num_sub, rows)
  corpus = np.empty((rows, dim), np.float32)
  for start in range(0, rows, 65_536):  # Blocks bound the float32 temporaries.
    stop = min(start + 65_536, rows)
    noise = rng.standard_normal((stop - start, dim), dtype=np.float32) * spectrum
    corpus[start:stop] = (mean + centres[label[start:stop]] + noise) @ rotation
  near = rng.integers(0, rows, queries)
  noise = rng.standard_normal((queries, dim), dtype=np.float32) * (QUERY_NOISE * spectrum)
  return corpus, corpus[near] + noise @ rotation


def exact_numpy(corpus, queries, k: int, chunk: int):
  """Exact top-`k` rows per query, best first: BLAS matmul per chunk + argpartition."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  best_scores = np.full((len(queries), 0), -np.inf, np.float32)
  best_rows = np.zeros((len(queries), 0), np.int64)
  for start in range(0, len(corpus), chunk):
    scores = queries @ corpus[start:start + chunk].T
    top = np.argpartition(-scores, min(k, scores.shape[1]) - 1, axis=1)[:, :k]
    best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], 1)
    best_rows = np.concatenate([best_rows, top + start], 1)
    keep = np.argpartition(-best_scores, min(k, best_scores.shape[1]) - 1, axis=1)[:, :k]
    best_scores = np.take_along_axis(best_scores, keep, 1)
    best_rows = np.take_along_axis(best_rows, keep, 1)
  order = np.argsort(-best_scores, axis=1, kind='stable')
  return np.take_along_axis(best_rows, order, 1)


def recall_at(approx, truth, k: int) -> float:
  """Mean over queries of |approx top-k & true top-k| / k (rows < 0 are empty slots)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  return float(np.mean([len(set(a[:k].tolist()) & set(t[:k].tolist())) / k
                        for a, t in zip(approx, truth)]))


class _Sweep:
  """Times sweep points of the methods and keeps them as rows."""

  def __init__(self, truth, k: int, repeats: int):
    self.truth, self.k, self.repeats, self.points = truth, k, repeats, []
    self.fns: dict[tuple[str, str], Callable[[], Any]] = {}

  def point(self, method: str, params: dict[str, Any], fn: Callable[[], Any]) -> dict:
    timed = common.time_interleaved({'fn': fn}, warmup=1, repeats=self.repeats)['fn']
    num_queries = len(self.truth)
    row = {'method': method, 'params': params,
           'queries_per_s': num_queries / timed['best'],
           'queries_per_s_median': num_queries / timed['median'],
           'seconds': timed['times'], 'cpu_util': timed['cpu_util'],
           'recall': recall_at(timed['result'], self.truth, self.k)}
    self.points.append(row)
    self.fns[method, repr(params)] = fn
    print(f'{method:12s} {params}: {row["queries_per_s"]:,.0f} q/s, recall@{self.k} '
          f'{row["recall"]:.4f}', file=sys.stderr, flush=True)
    return row

  def best(self, target: float) -> dict[str, dict]:
    """Per method, the fastest point reaching `target` recall."""
    best = {}
    for row in self.points:
      if row['recall'] >= target and (row['method'] not in best or row['queries_per_s']
                                      > best[row['method']]['queries_per_s']):
        best[row['method']] = row
    return best


def _scann(corpus, queries, k, threads, sweep: _Sweep, builds: dict, scann_config, leaves,
           reorders) -> None:
  from xqg_jax.index import scann_index  # pylint: disable=g-import-not-at-top
  t0 = time.perf_counter()
  index = scann_index.build(corpus, scann_config, source='benchmark', num_neighbors=k)
  builds['scann'] = {'seconds': time.perf_counter() - t0, 'params': index.params}
  index.searcher.set_num_threads(threads)
  for reorder in reorders:
    for leaf in leaves:
      sweep.point('scann', {'leaves_to_search': leaf, 'reorder_k': reorder},
                  lambda leaf=leaf, reorder=reorder: index.search(
                      queries, k, leaves_to_search=leaf, reorder_k=reorder)[1])


def _faiss_hnsw(corpus, queries, k, sweep: _Sweep, builds: dict, m: int, ef_construction: int,
                efs, max_build_s: float) -> None:
  import faiss  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  norms = np.einsum('ij,ij->i', corpus, corpus)
  extra = np.sqrt(np.maximum(norms.max() - norms, 0))[:, None].astype(np.float32)
  index = faiss.IndexHNSWFlat(corpus.shape[1] + 1, m)
  index.hnsw.efConstruction = ef_construction
  t0 = time.perf_counter()
  step = max(1, len(corpus) // 10)
  for start in range(0, len(corpus), step):
    stop = min(start + step, len(corpus))
    index.add(np.hstack([corpus[start:stop], extra[start:stop]]))
    if start == 0:
      estimate = (time.perf_counter() - t0) * len(corpus) / stop
      if estimate > max_build_s:
        builds['faiss_hnsw'] = {'skipped': f'build estimated at {estimate:.0f} s > '
                                           f'hnsw_max_build_s={max_build_s:.0f} s '
                                           f'(from the first {stop} rows)'}
        print(f'faiss_hnsw skipped: {builds["faiss_hnsw"]["skipped"]}', file=sys.stderr)
        return
  builds['faiss_hnsw'] = {'seconds': time.perf_counter() - t0, 'M': m,
                          'efConstruction': ef_construction, 'transform': 'MIPS->L2 (DPR)'}
  augmented = np.hstack([queries, np.zeros((len(queries), 1), np.float32)])
  for ef in efs:
    def search(ef=ef):
      index.hnsw.efSearch = ef
      return index.search(augmented, k)[1]
    sweep.point('faiss_hnsw', {'efSearch': ef}, search)


def _faiss_ivfpq(corpus, queries, k, sweep: _Sweep, builds: dict, factory: str, nlist: int,
                 train_sample: int, nprobes, k_factors) -> None:
  import faiss  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  spec = factory.format(nlist=nlist, half=corpus.shape[1] // 2)
  index = faiss.index_factory(corpus.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
  t0 = time.perf_counter()
  sample = np.random.default_rng(1).choice(len(corpus), min(train_sample, len(corpus)),
                                           replace=False)
  index.train(corpus[np.sort(sample)])
  index.add(corpus)
  builds['faiss_ivfpq'] = {'seconds': time.perf_counter() - t0, 'factory': spec,
                           'training_rows': len(sample)}
  refine = hasattr(index, 'k_factor')
  ivf = faiss.extract_index_ivf(index)
  for k_factor in (k_factors if refine else [None]):
    for nprobe in nprobes:
      def search(nprobe=nprobe, k_factor=k_factor):
        ivf.nprobe = nprobe
        if k_factor is not None:
          index.k_factor = k_factor
        return index.search(queries, k)[1]
      sweep.point('faiss_ivfpq', {'nprobe': nprobe, 'k_factor': k_factor}, search)


def run(*, rows: int, dim: int, num_queries: int, k: int, topics: int,
        subcluster_size: int, seed: int,
        threads: int, repeats: int, final_repeats: int, target_recall: float,
        exact_chunk: int, scann_config: dict, scann_leaves, scann_reorder, hnsw_m: int,
        hnsw_ef_construction: int, hnsw_ef, hnsw_max_build_s: float, ivfpq: str,
        ivf_nlist: int, ivf_nprobe, ivf_k_factor) -> dict[str, Any]:
  """The whole benchmark; returns the JSON-able result. Must run before JAX initialises."""
  threads = threads or common.num_cores()
  settings = common.setup_threads(threads)
  import faiss  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from xqg_jax.index import exact  # pylint: disable=g-import-not-at-top
  faiss.omp_set_num_threads(threads)
  settings.update({'jax_devices': [str(d) for d in jax.devices()],
                   'faiss_version': faiss.__version__,
                   'faiss_omp_max_threads': faiss.omp_get_max_threads(),
                   'faiss_simd_level': faiss.SIMDConfig.get_level_name(),
                   'scann_version': metadata.version('scann')})
  began = time.perf_counter()
  t0 = time.perf_counter()
  corpus, queries = make_data(rows, dim, num_queries, topics, subcluster_size, seed)
  data_s = time.perf_counter() - t0
  truth = exact_numpy(corpus, queries, k, exact_chunk)
  sweep = _Sweep(truth, k, repeats)
  builds = {'exact_numpy': {'seconds': 0.0}, 'exact_jax': {'seconds': 0.0}}
  sweep.point('exact_numpy', {'chunk': exact_chunk},
              lambda: exact_numpy(corpus, queries, k, exact_chunk))
  sweep.point('exact_jax', {'chunk': exact_chunk},
              lambda: exact.search(queries, corpus, k, exact_chunk)[1])
  _scann(corpus, queries, k, threads, sweep, builds, scann_config, scann_leaves,
         scann_reorder)
  _faiss_hnsw(corpus, queries, k, sweep, builds, hnsw_m, hnsw_ef_construction, hnsw_ef,
              hnsw_max_build_s)
  _faiss_ivfpq(corpus, queries, k, sweep, builds, ivfpq, ivf_nlist,
               scann_config['training_sample_size'], ivf_nprobe, ivf_k_factor)

  best = sweep.best(target_recall)
  with common.LoadMonitor() as load:
    final = common.time_interleaved(
        {m: sweep.fns[m, repr(row['params'])] for m, row in best.items()},
        warmup=1, repeats=final_repeats)
  for method, row in best.items():
    t = final[method]
    best[method] = {**row, 'final_queries_per_s': num_queries / t['best'],
                    'final_queries_per_s_median': num_queries / t['median'],
                    'final_seconds': t['times'], 'final_cpu_util': t['cpu_util']}
  qps = {m: row['final_queries_per_s'] for m, row in best.items()}
  ratios, targets = {}, []
  if 'scann' in qps:
    exact_qps = max(qps.get('exact_numpy', 0), qps.get('exact_jax', 0))
    faiss_qps = max([qps[m] for m in ('faiss_hnsw', 'faiss_ivfpq') if m in qps], default=0)
    ratios = {'scann_over_exact_numpy': qps['scann'] / qps['exact_numpy'],
              'scann_over_exact_jax': qps['scann'] / qps['exact_jax'],
              'scann_over_best_exact': qps['scann'] / exact_qps,
              'scann_over_best_faiss': qps['scann'] / faiss_qps if faiss_qps else None}
    targets = [{'metric': 'ScaNN / best exact queries/s', 'target': TARGET_OVER_EXACT,
                'value': ratios['scann_over_best_exact'],
                'met': ratios['scann_over_best_exact'] >= TARGET_OVER_EXACT}]
    if faiss_qps:
      targets.append({'metric': 'ScaNN / best FAISS queries/s', 'target': TARGET_OVER_FAISS,
                      'value': ratios['scann_over_best_faiss'],
                      'met': ratios['scann_over_best_faiss'] >= TARGET_OVER_FAISS})
  return {
      'benchmark': 'search_throughput',
      'machine': common.machine_info(),
      'settings': {**settings, 'rows': rows, 'dim': dim, 'queries': num_queries, 'k': k,
                   'topics': topics, 'subcluster_size': subcluster_size, 'seed': seed, 'repeats': repeats,
                   'final_repeats': final_repeats, 'target_recall': target_recall,
                   'scann_config': scann_config, 'data_s': data_s,
                   'data': 'two-level Gaussian mixture (Zipf-sized topics of sub-clusters), '
                           'shared mean, decaying noise spectrum, random rotation, not '
                           'L2-normalised; queries = data vectors + noise',
                   'data_norms': {'mean': MEAN_NORM, 'topic': TOPIC_NORM,
                                  'subcluster': SUBCLUSTER_NORM, 'noise': NOISE_NORM,
                                  'query_noise_rel': QUERY_NOISE},
                   'timing': 'all queries in one batch; best of repeats (median given); '
                             'best points re-timed interleaved (final_*)'},
      'builds': builds,
      'points': sweep.points,
      'best': best,
      'final_other_processes_cores': load.other_cores,
      'ratios': ratios,
      'targets': targets,
      'all_targets_met': bool(targets) and all(t['met'] for t in targets),
      'wall_s': time.perf_counter() - began,
  }


def format_report(result: dict[str, Any]) -> str:
  """A readable summary: machine, builds, the best point per method and the targets."""
  m, s = result['machine'], result['settings']
  lines = [f'{m["cpu_model"]}, {m["schedulable_cores"]} cores, threads {s["threads"]}; '
           f'{s["rows"]:,} x {s["dim"]} vectors, {s["queries"]} queries, recall@{s["k"]} '
           f'target {s["target_recall"]}; faiss {s["faiss_version"]}, scann '
           f'{s["scann_version"]}',
           'builds: ' + ', '.join(f'{k}={v.get("seconds", 0):.1f} s' if 'seconds' in v
                                  else f'{k}: {v["skipped"]}'
                                  for k, v in result['builds'].items())]
  rows = [{'method': method, 'params': str(row['params']), 'recall': row['recall'],
           'qps': row['queries_per_s'], 'final': row['final_queries_per_s']}
          for method, row in result['best'].items()]
  lines.append(common.format_table(rows, [
      ('method', 'method', ''), ('params', 'fastest point at target recall', ''),
      ('recall', 'recall', '.4f'), ('qps', 'q/s (sweep)', ',.0f'),
      ('final', 'q/s (interleaved)', ',.0f')]))
  missing = sorted(set(METHODS) - set(result['best']))
  if missing:
    lines.append(f'no point reached the target recall: {", ".join(missing)}')
  for name, value in result['ratios'].items():
    lines.append(f'{name}: {value:.2f}' if value is not None else f'{name}: -')
  lines += [common.target_line(t) for t in result['targets']]
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  quick = _QUICK.value
  ints = lambda values: [int(v) for v in values]  # noqa: E731
  scann_config = {'num_leaves': 100 if quick else _NUM_LEAVES.value,
                  'num_leaves_to_search': 10,
                  'training_sample_size': _TRAIN_SAMPLE.value,
                  'dimensions_per_block': _DIMS_PER_BLOCK.value,
                  'anisotropic_quantization_threshold': _AQ_THRESHOLD.value,
                  'reorder_k': 200, 'kmeans_iterations': 12, 'seed': _SEED.value}
  result = run(
      rows=10_000 if quick else _ROWS.value, dim=64 if quick else _DIM.value,
      num_queries=100 if quick else _QUERIES.value, k=_K.value,
      topics=100 if quick else _TOPICS.value, subcluster_size=_SUBCLUSTER.value, seed=_SEED.value, threads=_THREADS.value,
      repeats=1 if quick else _REPEATS.value,
      final_repeats=1 if quick else _FINAL_REPEATS.value,
      target_recall=_TARGET_RECALL.value, exact_chunk=_EXACT_CHUNK.value,
      scann_config=scann_config,
      scann_leaves=[20, 100] if quick else ints(_LEAVES.value),
      scann_reorder=[500] if quick else ints(_REORDER.value),
      hnsw_m=16 if quick else _HNSW_M.value, hnsw_ef_construction=40 if quick else
      _HNSW_EFC.value, hnsw_ef=[200, 800] if quick else ints(_HNSW_EF.value),
      hnsw_max_build_s=_HNSW_MAX_BUILD.value, ivfpq=_IVFPQ.value,
      ivf_nlist=100 if quick else _NLIST.value,
      ivf_nprobe=[20, 100] if quick else ints(_NPROBE.value),
      ivf_k_factor=[8] if quick else ints(_K_FACTOR.value))
  result['settings']['quick'] = quick
  common.write_json(result, _OUTPUT.value)
  print(format_report(result), file=sys.stderr if not _OUTPUT.value else sys.stdout)


if __name__ == '__main__':
  blas_env.reexec_without_overrides()
  app.run(main)
