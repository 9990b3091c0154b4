r"""How the cost of encode -> fuse -> index -> search grows with the corpus: time and peak RSS.

For each corpus size in `--passages`, the stages' own functions run on a corpus cut into
shards of `--shard_passages` (the memory bound: whatever the corpus size, one shard is in
memory at a time), each step in a fresh spawned process so that its peak RSS is its own:

- encode: `encode.encode` (the encode stage's loop: batches, the jitted tower, shard writes)
  with a random-weight BERT of the tiny config's size (2 layers, hidden 128) over synthetic
  passages of `--passage_words` words, tokenized by a WordPiece vocabulary of those words.
  Up to `--encode_max_passages` passages; larger corpora get random embeddings instead
  (written untimed: encoding is batch by batch, so its cost per passage cannot grow).
- fuse: `fusion.fuse_directory` with `len(languages) x num_queries` random generated-question
  embeddings per passage (written untimed), the paper's fusion of every language.
- index: `index_stage.build`, one ScaNN tree-AH index per shard (settings below).
- search: `index_stage.search` of `--queries` random queries for the top `--k`.

Cost per passage (microseconds) should stay flat with the corpus size, and peak RSS bounded
by one shard; the report flags a step whose cost per passage grows by more than
`scale_report.SUPERLINEAR_FACTOR` from the smallest to the largest corpus. Search is reported
per query as well: its cost per query grows with the corpus by design (every shard is
searched).

Usage:
  nice python -m benchmarks.scale_curve --output=benchmarks/results_scale_curve_cpu.json \
      --plot=benchmarks/scale_curve.png
  python -m benchmarks.scale_curve --quick
"""

import os
import shutil
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
from benchmarks import log_log_plot  # pylint: disable=g-import-not-at-top
from benchmarks import scale_report  # pylint: disable=g-import-not-at-top
from xqg_jax import languages  # pylint: disable=g-import-not-at-top

STEPS = scale_report.STEPS
# ScaNN settings per shard (the base config's, with leaves about sqrt(shard rows)).
SCANN = dict(num_leaves=150, num_leaves_to_search=15, training_sample_size=20_000,
             dimensions_per_block=2, anisotropic_quantization_threshold=0.2, reorder_k=250,
             kmeans_iterations=12, seed=0)
_VOCAB_WORDS = 2000
_WRITE_CHUNK = 2000  # passages per write of the random question embeddings

_PASSAGES = flags.DEFINE_list('passages', ['2000', '20000', '200000', '1000000'],
                              'Corpus sizes.')
_SHARD_PASSAGES = flags.DEFINE_integer('shard_passages', 20_000, 'Passages per shard.')
_LANGUAGES = flags.DEFINE_list('languages', list(languages.XOR_TYDI_LANGUAGES),
                               'Languages of the generated questions.')
_NUM_QUERIES = flags.DEFINE_integer('num_queries', 5, 'Generated questions per language.')
_ENCODE_MAX = flags.DEFINE_integer('encode_max_passages', 20_000,
                                   'Largest corpus encoded by the model; larger ones get '
                                   'random embeddings.')
_PASSAGE_WORDS = flags.DEFINE_integer('passage_words', 100, 'Words per synthetic passage.')
_QUERIES = flags.DEFINE_integer('queries', 1000, 'Search queries.')
_K = flags.DEFINE_integer('k', 100, 'Hits per query.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Parent of the temporary directory (deleted '
                               'afterwards); default: the system temp dir.')
_QUICK = flags.DEFINE_boolean('quick', False, 'Smoke run: 300 and 900 passages in shards of '
                              '300, 1 language x 2 questions, 20 queries.')
_OUTPUT = flags.DEFINE_string('output', '', 'JSON output path; empty prints the JSON.')
_PLOT = flags.DEFINE_string('plot', '', 'PNG path of the log-log plot; empty: none.')

_HIDDEN = 128  # the tiny config's encoder width: the embedding dimension


def _words() -> list[str]:
  return [f'w{i}' for i in range(_VOCAB_WORDS)]


def _xdr_dir(root: str, config) -> tuple[str, str]:
  """A random-weight tiny BERT in every xDR tower (`xdr_dir/hf/<tower>`) and a WordPiece
  tokenizer of the synthetic words: (xdr_dir, tokenizer_dir)."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  from xqg_jax.encoders import xdr_model  # pylint: disable=g-import-not-at-top
  from xqg_jax.models import bert  # pylint: disable=g-import-not-at-top
  tokenizer_dir, xdr_dir = os.path.join(root, 'tokenizer'), os.path.join(root, 'xdr')
  os.makedirs(tokenizer_dir)
  vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] + _words()
  vocab_file = os.path.join(tokenizer_dir, 'vocab.txt')
  with open(vocab_file, 'w') as f:
    f.write(''.join(f'{w}\n' for w in vocab))
  transformers.BertTokenizer(vocab_file).save_pretrained(tokenizer_dir)
  preset = bert.PRESETS[config.xdr.preset]
  hf_config = transformers.BertConfig(vocab_size=len(vocab), **preset)
  torch.manual_seed(0)
  model = transformers.BertModel(hf_config, add_pooling_layer=False)
  for tower in xdr_model.towers(config):
    model.save_pretrained(os.path.join(xdr_dir, 'hf', tower))
  return xdr_dir, tokenizer_dir


class _Passages:
  """Synthetic passages `(docid, text)`, random access, made from the index alone."""

  def __init__(self, num: int, words: int):
    self._num, self._words, self._vocab = num, words, _words()

  def __len__(self) -> int:
    return self._num

  def __getitem__(self, i: int) -> tuple[str, str]:
    rng = np.random.default_rng(i)
    picks = rng.integers(0, len(self._vocab), self._words)
    return f'p{i:08d}', ' '.join(self._vocab[w] for w in picks)


def _docids(start: int, stop: int) -> list[str]:
  return [f'p{i:08d}' for i in range(start, stop)]


def write_random_embeddings(directory: str, ranges: Sequence[tuple[int, int]], dim: int,
                            per_passage: Sequence[str] | None, seed: int) -> int:
  """Standard-normal embeddings in the embedding-shard format: one row per passage, or with
  `per_passage` (question-id suffixes) one row per generated question; returns bytes written.

  Its `meta.json` is written by hand: a manifest would hash every shard, which no later step
  reads.
  """
  from xqg_jax.data.formats import embedding_shards  # pylint: disable=g-import-not-at-top
  from xqg_jax.data.formats import generated_questions  # pylint: disable=g-import-not-at-top
  os.makedirs(directory)
  rng, rows_per = np.random.default_rng(seed), len(per_passage) if per_passage else 1
  written = 0
  for shard, (start, stop) in enumerate(ranges):
    docids = _docids(start, stop)
    path = os.path.join(directory, embedding_shards.shard_name('emb', shard, len(ranges), 'npy'))
    with open(path, 'wb') as f:
      np.lib.format.write_array_header_2_0(f, {'descr': '<f4', 'fortran_order': False,
                                                'shape': (len(docids) * rows_per, dim)})
      for chunk in range(0, len(docids), _WRITE_CHUNK):
        count = min(_WRITE_CHUNK, len(docids) - chunk) * rows_per
        rng.standard_normal((count, dim), np.float32).tofile(f)
        written += count * dim * 4
    ids = docids if not per_passage else [
        generated_questions.question_id_prefix(d) + tail for d in docids for tail in per_passage]
    with open(os.path.join(directory, embedding_shards.shard_name('ids', shard, len(ranges),
                                                                  'txt')), 'w') as f:
      f.write(''.join(f'{i}\n' for i in ids))
  with open(os.path.join(directory, embedding_shards.META_JSON), 'w') as f:
    f.write(f'{{"kind": "exact", "dim": {dim}, "dtype": "float32", '
            f'"num_shards": {len(ranges)}}}\n')
  return written


def _tiny_config():
  from xqg_jax.configs import tiny  # pylint: disable=g-import-not-at-top
  return tiny.get_config()


def step_encode(out_dir: str, xdr_dir: str, tokenizer_dir: str, num_passages: int, ranges,
                words: int) -> dict[str, Any]:
  """The encode stage's loop (`encode.encode`, the tiny config's passage tower, batch size,
  length buckets, mesh and rules) over the synthetic passages; run it in a fresh process."""
  from xqg_jax.data import tokenizers  # pylint: disable=g-import-not-at-top
  from xqg_jax.encoders import encode  # pylint: disable=g-import-not-at-top
  from xqg_jax.encoders import encode_stage  # pylint: disable=g-import-not-at-top
  from xqg_jax.parallel import xla_options  # pylint: disable=g-import-not-at-top
  config = _tiny_config()
  encoder = encode_stage.load_encoder(config, xdr_dir)  # Initialises the JAX client.
  tokenizer = tokenizers.load_tokenizer(tokenizer_dir)
  rules = tuple(config.logical_axis_rules)
  return child_process.timed(lambda: encode.encode(
      out_dir, source=_Passages(num_passages, words), text_fn=lambda r: r[1],
      id_fn=lambda r: r[0], tokenizer=tokenizer, embed_fn=encoder.embed_fn('encode_passage'),
      params=encoder.params, param_shardings_fn=lambda mesh: encoder.param_shardings(mesh, rules),
      mesh_spec=config.mesh, devices=None, rules=rules, max_len=config.data.p_max_len,
      batch_size=config.xdr.encode_batch_size, buckets=config.data.length_buckets,
      num_shards=len(ranges), stage_config={}, inputs={}, ranges=ranges,
      compiler_options=xla_options.for_backend(config.xdr.compiler_options)),
      child_process.status_bytes('VmRSS'))


def step_fuse(out_dir: str, corpus_dir: str, questions_dir: str, langs: Sequence[str],
              num_queries: int) -> dict[str, Any]:
  """`fusion.fuse_directory` of every language's questions (alpha 0.01, sum)."""
  import jax  # pylint: disable=g-import-not-at-top
  from xqg_jax.augment import fusion  # pylint: disable=g-import-not-at-top
  jax.process_index()
  config = fusion.FusionConfig(0.01, 'sum', tuple(langs), num_queries)
  return child_process.timed(
      lambda: fusion.fuse_directory(out_dir, corpus_dir=corpus_dir, questions_dir=questions_dir,
                                    fusion=config, inputs={}),
      child_process.status_bytes('VmRSS'))


def step_index(out_dir: str, embeddings_dir: str, scann: dict) -> dict[str, Any]:
  """`index_stage.build`: one ScaNN index per shard."""
  import jax  # pylint: disable=g-import-not-at-top
  from xqg_jax.index import index_stage  # pylint: disable=g-import-not-at-top
  jax.process_index()
  config = _tiny_config()
  config.index.kind = 'scann'
  config.index.scann.update(scann)
  return child_process.timed(lambda: index_stage.build(config, out_dir, embeddings_dir, {}),
                             child_process.status_bytes('VmRSS'))


def step_search(index_dir: str, num_queries: int, dim: int, k: int) -> dict[str, Any]:
  """`index_stage.search` of random queries over every shard."""
  import jax  # pylint: disable=g-import-not-at-top
  from xqg_jax.index import index_stage  # pylint: disable=g-import-not-at-top
  jax.process_index()
  config = _tiny_config()
  config.index.kind = 'scann'
  queries = np.random.default_rng(1).standard_normal((num_queries, dim), np.float32)
  found = []
  result = child_process.timed(
      lambda: found.append(index_stage.search(config, index_dir, queries, k)[1]),
      child_process.status_bytes('VmRSS'))
  return {**result, 'hits_per_query': float(np.mean([len(h) for h in found[0]]))}


def run_size(root: str, num_passages: int, *, shard_passages: int, langs: Sequence[str],
             num_queries: int, encode_max: int, words: int, queries: int, k: int,
             scann: dict, model: tuple[str, str]) -> dict[str, Any]:
  """Every step at one corpus size; the inputs of each are made untimed."""
  from xqg_jax.data.formats import embedding_shards  # pylint: disable=g-import-not-at-top
  from xqg_jax.data.formats import generated_questions  # pylint: disable=g-import-not-at-top
  num_shards = -(-num_passages // shard_passages)
  ranges = embedding_shards.shard_ranges(num_passages, num_shards)
  prefix = len(generated_questions.question_id_prefix(''))
  tails = [generated_questions.question_id('', lang, i)[prefix:] for lang in langs
           for i in range(num_queries)]
  work = os.path.join(root, f'n{num_passages}')
  os.makedirs(work)
  steps, began = {}, time.perf_counter()
  corpus = os.path.join(work, 'corpus')
  if num_passages <= encode_max:
    steps['encode'] = child_process.in_child(step_encode, corpus, *model, num_passages, ranges,
                                             words)
  else:
    write_random_embeddings(corpus, ranges, _HIDDEN, None, seed=0)
  questions = os.path.join(work, 'generated')
  question_bytes = write_random_embeddings(questions, ranges, _HIDDEN, tails, seed=1)
  setup_s = time.perf_counter() - began
  fused, index = os.path.join(work, 'fused'), os.path.join(work, 'index')
  steps['fuse'] = child_process.in_child(step_fuse, fused, corpus, questions, langs, num_queries)
  shutil.rmtree(questions)  # The largest input; the later steps do not read it.
  steps['index'] = child_process.in_child(step_index, index, fused, scann)
  steps['search'] = child_process.in_child(step_search, index, queries, _HIDDEN, k)
  rows = {}
  for name, (timing, other) in steps.items():
    rows[name] = {**timing, 'other_processes_cores': other,
                  'contended': other > common.CONTENDED_CORES,
                  'us_per_passage': timing['wall_s'] / num_passages * 1e6,
                  'working_set_bytes': timing['peak_rss_bytes'] - timing['baseline_rss_bytes']}
  rows['search']['ms_per_query'] = rows['search']['wall_s'] / queries * 1e3
  shutil.rmtree(work)
  return {'passages': num_passages, 'num_shards': num_shards,
          'shard_passages': shard_passages, 'question_bytes': question_bytes,
          'shard_bytes': question_bytes // num_shards + shard_passages * _HIDDEN * 4,
          'encoded': num_passages <= encode_max, 'setup_s': setup_s, 'steps': rows}


def run(passages: Sequence[int], *, shard_passages: int, langs: Sequence[str],
        num_queries: int, encode_max: int, words: int, queries: int, k: int,
        workdir: str | None = None) -> dict[str, Any]:
  """The whole benchmark; returns the JSON-able result."""
  languages.validate(langs)
  os.environ.setdefault('JAX_PLATFORMS', 'cpu')  # The children inherit it.
  scann = dict(SCANN, training_sample_size=min(SCANN['training_sample_size'], shard_passages))
  t0 = time.perf_counter()
  sizes = []
  with tempfile.TemporaryDirectory(prefix='scale_curve_', dir=workdir) as root:
    model = _xdr_dir(root, _tiny_config())
    for n in sorted(passages):
      sizes.append(run_size(root, n, shard_passages=shard_passages, langs=langs,
                            num_queries=num_queries, encode_max=encode_max, words=words,
                            queries=queries, k=k, scann=scann, model=model))
  return {
      'benchmark': 'scale_curve',
      'machine': common.machine_info(),
      'settings': {
          'passages': sorted(passages), 'shard_passages': shard_passages,
          'languages': list(langs), 'num_queries': num_queries,
          'questions_per_passage': len(langs) * num_queries, 'dim': _HIDDEN,
          'encode_max_passages': encode_max, 'passage_words': words, 'queries': queries,
          'k': k, 'scann': scann,
          'encoder': 'random-weight BERT of the tiny config (2 layers, hidden 128), the '
                     'encode stage loop with the tiny config\'s batch size and buckets',
          'inputs': 'generated-question embeddings (and, above encode_max_passages, passage '
                    'embeddings) are random, written untimed',
          'working_set': 'peak RSS (VmHWM) of the step\'s own process minus its RSS before '
                         'the timed section',
      },
      'sizes': sizes,
      'growth': scale_report.growth(sizes),
      'wall_s': time.perf_counter() - t0,
  }


def format_report(result: dict[str, Any]) -> str:
  m, s = result['machine'], result['settings']
  return '\n'.join([f'{m["cpu_model"]} ({m["cpu_family_model"]}), {m["schedulable_cores"]} cores; '
                    f'shards of {s["shard_passages"]:,} passages, {s["questions_per_passage"]} '
                    f'generated questions per passage, dim {s["dim"]}',
                    scale_report.markdown(result)])


def plot(result: dict[str, Any], path: str) -> None:
  """Log-log: microseconds per passage and peak RSS per step against the corpus size."""
  cost, memory = [], []
  for step in STEPS:
    have = [s for s in result['sizes'] if step in s['steps']]
    x = [s['passages'] for s in have]
    cost.append((step, x, [s['steps'][step]['us_per_passage'] for s in have], 'o-'))
    memory.append((step, x, [s['steps'][step]['peak_rss_bytes'] / 1e9 for s in have], 'o-'))
  memory.append(('one shard', [s['passages'] for s in result['sizes']],
                 [s['shard_bytes'] / 1e9 for s in result['sizes']], 'k--'))
  log_log_plot.save(path, [('microseconds per passage', cost), ('peak RSS (GB)', memory)],
                    'passages')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  quick = _QUICK.value
  result = run([300, 900] if quick else [int(p) for p in _PASSAGES.value],
               shard_passages=300 if quick else _SHARD_PASSAGES.value,
               langs=_LANGUAGES.value[:1] if quick else _LANGUAGES.value,
               num_queries=2 if quick else _NUM_QUERIES.value,
               encode_max=300 if quick else _ENCODE_MAX.value,
               words=20 if quick else _PASSAGE_WORDS.value,
               queries=20 if quick else _QUERIES.value, k=_K.value, workdir=_WORKDIR.value)
  result['settings']['quick'] = quick
  common.write_json(result, _OUTPUT.value)
  if _PLOT.value:
    plot(result, _PLOT.value)
  print(format_report(result), file=sys.stderr if not _OUTPUT.value else sys.stdout)


if __name__ == '__main__':
  blas_env.reexec_without_overrides()
  app.run(main)
