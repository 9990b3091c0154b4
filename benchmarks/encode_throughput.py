r"""Encoder forward throughput: our jitted Flax `bert.Encoder` vs transformers' PyTorch `BertModel`.

Both run the same weights (a random-weight `BertModel` saved with `save_pretrained` and loaded
with `hf_checkpoint.load_hf_encoder`), the same `[batch, seq_len]` inputs (random ids, every
token real, token types 0) and the same number of intra-op threads. PyTorch runs in eval mode
under `torch.inference_mode()`; its bf16 row uses CPU autocast (fp32 weights, bf16 matmuls,
fp32 LayerNorm / softmax: the same mixed precision as ours with `dtype='bfloat16'`) or, with
`--torch_bf16=cast`, a `.to(torch.bfloat16)` copy of the model.

Sizes: `minilm` (6 layers, 384 hidden, 12 heads, 1536 ff), `base` (the mBERT-base shape: 12
layers, 768, 12 heads, 3072, with the vocabulary cut from 119547 to 30522: the embedding
lookup is a gather, not a cost) and `tiny` (2 layers, 128, 2 heads, 512; smoke runs).

MFU = model FLOP/s / the matmul peak of the same framework and dtype, measured in this run
(an `n^3` matmul, best of the repeats). Model FLOPs count the matmuls of the forward pass:
2 * tokens * (dense-layer weights: 4 H^2 + 2 H F per layer) plus the attention score and
value products (4 * batch * seq_len^2 * H per layer).

Usage:
  python -m benchmarks.encode_throughput --output=/tmp/encode.json
  python -m benchmarks.encode_throughput --quick --sizes=tiny
"""

import contextlib
import os
import sys
import tempfile
import time
from typing import Any, Callable

from absl import app
from absl import flags

if __package__ in (None, ''):  # Run as a file: make the `benchmarks` package importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # pylint: disable=g-import-not-at-top

SIZES = {
    'tiny': dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512),
    'minilm': dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                   intermediate_size=1536),
    'base': dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072),
}
VOCAB_SIZE = 30522
DTYPES = ('float32', 'bfloat16')
# Issue targets, fp32: ours / torch tokens/s and our MFU (against JAX's own measured peak).
TARGET_RATIO = {'minilm': 1.2, 'base': 1.0}
TARGET_MFU = {'minilm': 0.8, 'base': 0.8}

_SIZES = flags.DEFINE_list('sizes', ['minilm', 'base'], f'Sizes to run, of {sorted(SIZES)}.')
_DTYPES = flags.DEFINE_list('dtypes', list(DTYPES), 'Computation dtypes to run.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 64, 'Sequences per forward pass.')
_SEQ_LEN = flags.DEFINE_integer('seq_len', 128, 'Tokens per sequence.')
_THREADS = flags.DEFINE_integer('threads', 0, 'Intra-op threads for both; 0: all usable cores.')
_WARMUP = flags.DEFINE_integer('warmup', 1, 'Untimed calls per contender (after compiling).')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed calls per contender, interleaved.')
_PEAK_N = flags.DEFINE_integer('peak_n', 2048, 'Matmul size n of the n^3 peak measurement.')
_PEAK_REPEATS = flags.DEFINE_integer('peak_repeats', 10, 'Timed calls per peak matmul.')
_QUICK = flags.DEFINE_boolean('quick', False,
                              'Smoke run: 1 repeat, peak_n=512, 2 peak repeats.')
_TORCH_BF16 = flags.DEFINE_enum('torch_bf16', 'autocast', ['autocast', 'cast'],
                                'PyTorch bf16: CPU autocast, or a .to(bfloat16) model copy.')
_XLA_FLAGS = flags.DEFINE_string('xla_flags', '', 'Extra XLA_FLAGS for our side, e.g. '
                                 '"--xla_cpu_experimental_ynn_fusion_type=-dot".')
_OUTPUT = flags.DEFINE_string('output', '', 'JSON output path; empty prints the JSON.')


def model_flops(size: str, batch_size: int, seq_len: int) -> float:
  """Matmul FLOPs of one encoder forward pass (dense layers + attention products)."""
  s = SIZES[size]
  h, f, n = s['hidden_size'], s['intermediate_size'], s['num_hidden_layers']
  tokens = batch_size * seq_len
  dense = 2.0 * tokens * (4 * h * h + 2 * h * f)
  attention = 4.0 * batch_size * seq_len * seq_len * h
  return n * (dense + attention)


def _torch_model(size: str, directory: str):
  """A random-weight eval-mode `BertModel` (no pooler), also saved to `directory`."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  config = transformers.BertConfig(vocab_size=VOCAB_SIZE, **SIZES[size])
  model = transformers.BertModel(config, add_pooling_layer=False).eval()
  model.save_pretrained(directory)
  return model


def _inputs(batch_size: int, seq_len: int):
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  ids = rng.integers(1, VOCAB_SIZE, (batch_size, seq_len)).astype(np.int32)
  return ids, np.ones_like(ids), np.zeros_like(ids)


def _jax_forward(directory: str, dtype: str, ids, mask, token_types) -> Callable[[], Any]:
  """A blocking jitted forward pass of our encoder loaded from `directory`."""
  import jax  # pylint: disable=g-import-not-at-top
  from xqg_jax.encoders import bert  # pylint: disable=g-import-not-at-top
  from xqg_jax.encoders import hf_checkpoint  # pylint: disable=g-import-not-at-top
  config, params = hf_checkpoint.load_hf_encoder(directory, add_pooler=False, dtype=dtype)
  model = bert.Encoder(config)
  forward = jax.jit(lambda p, i, m, t: model.apply({'params': p}, i, m, t))
  params, ids, mask, token_types = jax.device_put((params, ids, mask, token_types))
  return lambda: forward(params, ids, mask, token_types).block_until_ready()


def _torch_forward(model, dtype: str, mode: str, ids, mask, token_types) -> Callable[[], Any]:
  """A PyTorch forward pass under `inference_mode` (bf16: autocast or a bf16 model copy)."""
  import torch  # pylint: disable=g-import-not-at-top
  ids, mask, token_types = (torch.from_numpy(x).long() for x in (ids, mask, token_types))
  autocast = dtype == 'bfloat16' and mode == 'autocast'
  if dtype == 'bfloat16' and mode == 'cast':
    model = model.to(torch.bfloat16)

  def run():
    context = (torch.autocast('cpu', dtype=torch.bfloat16) if autocast
               else contextlib.nullcontext())
    with torch.inference_mode(), context:
      return model(input_ids=ids, attention_mask=mask, token_type_ids=token_types
                   ).last_hidden_state
  return run


def _max_abs_diff(ours, theirs) -> float:
  import numpy as np  # pylint: disable=g-import-not-at-top
  ours = np.asarray(ours, np.float32)
  theirs = theirs.float().numpy()
  return float(np.max(np.abs(ours - theirs)))


def run_size(size: str, dtypes, peaks, *, batch_size: int, seq_len: int, warmup: int,
             repeats: int, torch_bf16: str) -> list[dict[str, Any]]:
  """Times both frameworks at `size` for each dtype; one row per dtype."""
  import copy  # pylint: disable=g-import-not-at-top
  ids, mask, token_types = _inputs(batch_size, seq_len)
  tokens = batch_size * seq_len
  flops = model_flops(size, batch_size, seq_len)
  rows = []
  with tempfile.TemporaryDirectory() as directory:
    torch_model = _torch_model(size, directory)
    for dtype in dtypes:
      t0 = time.perf_counter()
      ours = _jax_forward(directory, dtype, ids, mask, token_types)
      ours()  # Compiles.
      compile_s = time.perf_counter() - t0
      theirs = _torch_forward(copy.deepcopy(torch_model), dtype, torch_bf16, ids, mask,
                              token_types)
      with common.LoadMonitor() as load:
        timed = common.time_interleaved({'ours': ours, 'torch': theirs}, warmup=warmup,
                                        repeats=repeats)
      row = {'size': size, 'dtype': dtype, 'batch_size': batch_size, 'seq_len': seq_len,
             'model_gflop': flops / 1e9, 'ours_compile_s': compile_s,
             'other_processes_cores': load.other_cores,
             'torch_attn_implementation': torch_model.config._attn_implementation,  # pylint: disable=protected-access
             'max_abs_diff_vs_torch': _max_abs_diff(timed['ours']['result'],
                                                    timed['torch']['result'])}
      for name, framework in (('ours', 'jax'), ('torch', 'torch')):
        t = timed[name]
        peak = peaks[f'{framework}_{dtype}']['gflops'] * 1e9
        best_peak = max(peaks[f'{fw}_{dtype}']['gflops'] for fw in ('jax', 'torch')) * 1e9
        row.update({
            f'{name}_tokens_per_s': tokens / t['best'],
            f'{name}_tokens_per_s_median': tokens / t['median'],
            f'{name}_s': t['times'],
            f'{name}_cpu_util': t['cpu_util'],
            f'{name}_gflops': flops / t['best'] / 1e9,
            f'{name}_mfu': flops / t['best'] / peak,
            f'{name}_mfu_vs_best_peak': flops / t['best'] / best_peak,
        })
      row['ratio'] = row['ours_tokens_per_s'] / row['torch_tokens_per_s']
      row['ratio_median'] = row['ours_tokens_per_s_median'] / row['torch_tokens_per_s_median']
      rows.append(row)
      del ours, theirs, timed
  return rows


def check_targets(rows) -> list[dict[str, Any]]:
  """The issue's fp32 targets for the sizes run, each with its measured value and `met`."""
  checks = []
  for row in rows:
    if row['dtype'] != 'float32' or row['size'] not in TARGET_RATIO:
      continue
    size = row['size']
    checks.append({'size': size, 'metric': 'ratio ours/torch fp32', 'target': TARGET_RATIO[size],
                   'value': row['ratio'], 'met': row['ratio'] >= TARGET_RATIO[size]})
    checks.append({'size': size, 'metric': 'ours MFU fp32', 'target': TARGET_MFU[size],
                   'value': row['ours_mfu'], 'met': row['ours_mfu'] >= TARGET_MFU[size]})
  return checks


def run(sizes, dtypes, *, batch_size: int = 64, seq_len: int = 128, threads: int = 0,
        warmup: int = 1, repeats: int = 3, peak_n: int = 2048, peak_repeats: int = 10,
        torch_bf16: str = 'autocast', xla_flags: str = '') -> dict[str, Any]:
  """The whole benchmark; returns the JSON-able result. Must run before JAX initialises."""
  unknown = sorted(set(sizes) - set(SIZES)) + sorted(set(dtypes) - set(DTYPES))
  if unknown:
    raise ValueError(f'unknown sizes/dtypes {unknown}; sizes: {sorted(SIZES)}, dtypes: {DTYPES}')
  threads = threads or common.num_cores()
  settings = common.setup_threads(threads, xla_flags)
  settings.update(common.torch_setup(threads))
  import jax  # pylint: disable=g-import-not-at-top,unused-import
  import torch  # pylint: disable=g-import-not-at-top,unused-import
  settings['jax_devices'] = [str(d) for d in jax.devices()]
  settings['torch_bf16'] = torch_bf16

  t0 = time.perf_counter()
  peak_start = common.matmul_peaks(peak_n, dtypes, ('jax', 'torch'), warmup=2,
                                   repeats=peak_repeats)
  rows = []
  for size in sizes:
    rows += run_size(size, dtypes, peak_start, batch_size=batch_size, seq_len=seq_len,
                     warmup=warmup, repeats=repeats, torch_bf16=torch_bf16)
  peak_end = common.matmul_peaks(peak_n, dtypes, ('jax', 'torch'), warmup=1,
                                 repeats=peak_repeats)
  peaks = {name: max(peak_start[name], peak_end[name], key=lambda p: p['gflops'])
           for name in peak_start}
  if peaks != peak_start:  # A higher peak at the end: recompute MFU against it.
    for row in rows:
      for name, framework in (('ours', 'jax'), ('torch', 'torch')):
        row[f'{name}_mfu'] = row[f'{name}_gflops'] / peaks[f'{framework}_{row["dtype"]}']['gflops']
        row[f'{name}_mfu_vs_best_peak'] = row[f'{name}_gflops'] / max(
            peaks[f'{fw}_{row["dtype"]}']['gflops'] for fw in ('jax', 'torch'))
  targets = check_targets(rows)
  return {
      'benchmark': 'encode_throughput',
      'machine': common.machine_info(),
      'settings': {**settings, 'batch_size': batch_size, 'seq_len': seq_len, 'warmup': warmup,
                   'repeats': repeats, 'vocab_size': VOCAB_SIZE, 'timing': 'best of repeats '
                   '(median also given), ours and torch interleaved'},
      'peaks_gflops': peaks,
      'peaks_start': peak_start,
      'peaks_end': peak_end,
      'rows': rows,
      'targets': targets,
      'all_targets_met': all(t['met'] for t in targets) if targets else None,
      'wall_s': time.perf_counter() - t0,
  }


def format_report(result: dict[str, Any]) -> str:
  """A readable summary: machine, peaks, the table and the targets."""
  m, s = result['machine'], result['settings']
  lines = [f'{m["cpu_model"]} ({m["cpu_family_model"]}), {m["schedulable_cores"]} cores, '
           f'AMX={m["isa"]["amx_bf16"]}, AVX512_BF16={m["isa"]["avx512_bf16"]}; '
           f'jax {m.get("jax_version")}, torch {m.get("torch_version")}; threads: '
           f'{s["threads"]} (torch {s["torch_num_threads"]}), XLA_FLAGS="{s["xla_flags"]}"',
           'matmul peaks (GFLOP/s, n=%d): ' % next(iter(result['peaks_gflops'].values()))['n']
           + ', '.join(f'{k}={v["gflops"]:.0f}' for k, v in result['peaks_gflops'].items())]
  columns = [('size', 'size', ''), ('dtype', 'dtype', ''),
             ('ours_tokens_per_s', 'ours tok/s', ',.0f'),
             ('torch_tokens_per_s', 'torch tok/s', ',.0f'), ('ratio', 'ours/torch', '.2f'),
             ('ours_mfu', 'ours MFU', '.1%'), ('torch_mfu', 'torch MFU', '.1%'),
             ('ours_mfu_vs_best_peak', 'ours MFU/best peak', '.1%'),
             ('max_abs_diff_vs_torch', 'max|diff|', '.1e'),
             ('other_processes_cores', 'other load', '.2f')]
  lines.append(common.format_table(result['rows'], columns))
  for t in result['targets']:
    verdict = 'met' if t['met'] else 'SHORT'
    lines.append(f'target {t["size"]} {t["metric"]} >= {t["target"]}: {t["value"]:.2f} '
                 f'-> {verdict}')
  if result['all_targets_met'] is False:
    lines.append('NOT ALL TARGETS MET.')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  quick = _QUICK.value
  result = run(_SIZES.value, _DTYPES.value, batch_size=_BATCH_SIZE.value,
               seq_len=_SEQ_LEN.value, threads=_THREADS.value, warmup=_WARMUP.value,
               repeats=1 if quick else _REPEATS.value,
               peak_n=512 if quick else _PEAK_N.value,
               peak_repeats=2 if quick else _PEAK_REPEATS.value,
               torch_bf16=_TORCH_BF16.value, xla_flags=_XLA_FLAGS.value)
  result['settings']['quick'] = quick
  common.write_json(result, _OUTPUT.value)
  print(format_report(result), file=sys.stderr if not _OUTPUT.value else sys.stdout)


if __name__ == '__main__':
  app.run(main)
