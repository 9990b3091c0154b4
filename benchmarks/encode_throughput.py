r"""Encoder forward throughput: our jitted Flax `bert.Encoder` vs transformers' PyTorch `BertModel`.

Both run the same weights (a random-weight `BertModel` saved with `save_pretrained` and loaded
with `hf_bert.load_hf_encoder`), the same `[batch, seq_len]` inputs (random ids, every
token real, token types 0) and the same number of intra-op threads. PyTorch runs in eval mode
under `torch.inference_mode()`; its bf16 row uses CPU autocast (fp32 weights, bf16 matmuls,
fp32 LayerNorm / softmax: the same mixed precision as ours with `dtype='bfloat16'`) or, with
`--torch_bf16=cast`, a `.to(torch.bfloat16)` copy of the model. bf16 rows run with
`--dtypes=float32,bfloat16` only: a CPU without bf16 instructions emulates it (the full run
took more than 15 minutes on a Zen 3).

Sizes: `minilm` (6 layers, 384 hidden, 12 heads, 1536 ff), `base` (the mBERT-base shape: 12
layers, 768, 12 heads, 3072, with the vocabulary cut from 119547 to 30522: the embedding
lookup is a gather, not a cost) and `tiny` (2 layers, 128, 2 heads, 512; smoke runs).

Ours runs in variants that differ only in XLA compiler options (`VARIANTS`): `xla-default`,
and `no-ynn`, which stops XLA:CPU handing dots and row reductions to YNNPACK (jaxlib 0.10.2's
default), so dots run on Eigen. The oneDNN / XNNPACK options of this jaxlib
(`xla_cpu_use_onednn`, `xla_cpu_experimental_onednn_custom_call`,
`xla_cpu_experimental_{onednn,xnn}_fusion_type`, `xla_cpu_use_xnnpack`,
`xla_cpu_experimental_xnn_graph_fusion_mode`) leave the compiled HLO unchanged, and XLA:CPU
upcasts bf16 dots to fp32, so our bf16 is no faster than fp32.

MFU = model FLOP/s / the matmul peak of the same framework and dtype, measured in this run
(an `n^3` matmul, best of the repeats; JAX: the best variant). Model FLOPs count the matmuls
of the forward pass: 2 * tokens * (dense-layer weights: 4 H^2 + 2 H F per layer) plus the
attention score and value products (4 * batch * seq_len^2 * H per layer).

Usage:
  python -m benchmarks.encode_throughput --output=/tmp/encode.json
  python -m benchmarks.encode_throughput --quick --sizes=tiny
"""

import os
import sys
import tempfile
import time
from typing import Any, Callable

from absl import app
from absl import flags

if __package__ in (None, ''):  # Run as a file: make the `benchmarks` package importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import blas_env  # pylint: disable=g-import-not-at-top
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
# Variants of ours: XLA compiler options of the jitted forward pass. jaxlib 0.10.2's XLA:CPU
# hands dots and row reductions to YNNPACK by default; 'no-ynn' turns that off (Eigen dots).
VARIANTS = {
    'xla-default': {},
    'no-ynn': {'xla_cpu_experimental_ynn_fusion_type': ''},  # the base config's xdr, cpu
}
# Issue targets, fp32: ours / torch tokens/s and our MFU (against JAX's own measured peak).
TARGET_RATIO = {'minilm': 1.2, 'base': 1.0}
TARGET_MFU = {'minilm': 0.8, 'base': 0.8}
# Timed repeats per size (keeps the default run near 5 minutes on 2 cores).
DEFAULT_REPEATS = {'tiny': 3, 'minilm': 3, 'base': 2}

_SIZES = flags.DEFINE_list('sizes', ['minilm', 'base'], f'Sizes to run, of {sorted(SIZES)}.')
_DTYPES = flags.DEFINE_list('dtypes', ['float32'], f'Computation dtypes to run, of {DTYPES}.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 64, 'Sequences per forward pass.')
_SEQ_LEN = flags.DEFINE_integer('seq_len', 128, 'Tokens per sequence.')
_THREADS = flags.DEFINE_integer('threads', 0, 'Intra-op threads for both; 0: all usable cores.')
_WARMUP = flags.DEFINE_integer('warmup', 1, 'Untimed calls per contender (after compiling).')
_REPEATS = flags.DEFINE_integer('repeats', None, 'Timed calls per contender, interleaved; '
                                 f'default per size: {DEFAULT_REPEATS}.')
_PEAK_N = flags.DEFINE_integer('peak_n', 2048, 'Matmul size n of the n^3 peak measurement.')
_PEAK_REPEATS = flags.DEFINE_integer('peak_repeats', 10, 'Timed calls per peak matmul.')
_QUICK = flags.DEFINE_boolean('quick', False,
                              'Smoke run: 1 repeat, peak_n=512, 2 peak repeats.')
_TORCH_BF16 = flags.DEFINE_enum('torch_bf16', 'autocast', ['autocast', 'cast'],
                                'PyTorch bf16: CPU autocast, or a .to(bfloat16) model copy.')
_VARIANTS = flags.DEFINE_list('variants', list(VARIANTS),
                               f'Variants of ours (XLA compiler options), of {sorted(VARIANTS)}.')
_XLA_FLAGS = flags.DEFINE_string('xla_flags', '', 'Extra XLA_FLAGS for our side, e.g. '
                                 '"--xla_cpu_enable_fast_min_max=true" (process-wide).')
_DEVICE = flags.DEFINE_enum('device', 'cpu', ['cpu', 'gpu'], 'Where both frameworks run.')
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


def _jax_forward(directory: str, dtype: str, compiler_options: dict[str, Any], ids, mask,
                 token_types) -> Callable[[], Any]:
  """A blocking jitted forward pass of our encoder loaded from `directory`."""
  import jax  # pylint: disable=g-import-not-at-top
  from xqg_jax.models import bert  # pylint: disable=g-import-not-at-top
  from xqg_jax.models import hf_bert  # pylint: disable=g-import-not-at-top
  config, params = hf_bert.load_hf_encoder(directory, add_pooler=False, dtype=dtype)
  model = bert.Encoder(config)
  args = jax.device_put((params, ids, mask, token_types))
  forward = jax.jit(lambda p, i, m, t: model.apply({'params': p}, i, m, t))
  compiled = forward.lower(*args).compile(compiler_options)
  return lambda: compiled(*args).block_until_ready()


def _torch_forward(model, dtype: str, mode: str, ids, mask, token_types,
                   device: str) -> Callable[[], Any]:
  """A PyTorch forward pass on `device` under `inference_mode` (bf16: autocast or a bf16
  model copy)."""
  import torch  # pylint: disable=g-import-not-at-top
  where = common.TORCH_DEVICES[device]
  ids, mask, token_types = (torch.from_numpy(x).long().to(where)
                            for x in (ids, mask, token_types))
  return common.torch_runner(model.to(where), dtype, mode, lambda m: m(
      input_ids=ids, attention_mask=mask, token_type_ids=token_types).last_hidden_state,
                             device)


def _max_abs_diff(ours, theirs) -> float:
  import numpy as np  # pylint: disable=g-import-not-at-top
  return float(np.max(np.abs(np.asarray(ours, np.float32) - theirs.float().cpu().numpy())))


def run_size(size: str, dtypes, variants, peaks, *, batch_size: int, seq_len: int,
             warmup: int, repeats: int, torch_bf16: str,
             device: str = 'cpu') -> list[dict[str, Any]]:
  """Times PyTorch and each variant of ours at `size`; one row per (dtype, variant)."""
  import copy  # pylint: disable=g-import-not-at-top
  ids, mask, token_types = _inputs(batch_size, seq_len)
  tokens = batch_size * seq_len
  flops = model_flops(size, batch_size, seq_len)
  rows = []
  with tempfile.TemporaryDirectory() as directory:
    torch_model = _torch_model(size, directory)
    attn_implementation = getattr(torch_model.config, '_attn_implementation', None)
    for dtype in dtypes:
      fns, compile_s = {}, {}
      for variant, options in variants.items():
        t0 = time.perf_counter()
        fns[variant] = _jax_forward(directory, dtype, options, ids, mask, token_types)
        compile_s[variant] = time.perf_counter() - t0  # Loading, compiling.
      fns['torch'] = _torch_forward(copy.deepcopy(torch_model), dtype, torch_bf16, ids, mask,
                                    token_types, device)
      with common.LoadMonitor() as load:
        timed = common.time_interleaved(fns, warmup=warmup, repeats=repeats)
      theirs = timed.pop('torch')
      torch_peak = peaks[f'torch_{dtype}']['gflops']
      jax_peak = peaks[f'jax_{dtype}']['gflops']
      best_peak = max(torch_peak, jax_peak)
      for variant, ours in timed.items():
        row = {'size': size, 'dtype': dtype, 'variant': variant, 'batch_size': batch_size,
               'seq_len': seq_len, 'model_gflop': flops / 1e9,
               'ours_setup_s': compile_s[variant],
               'other_processes_cores': load.other_cores,
               'contended': (load.other_cores or 0.0) > common.CONTENDED_CORES,
               'torch_attn_implementation': attn_implementation,
               'max_abs_diff_vs_torch': _max_abs_diff(ours['result'], theirs['result'])}
        for name, t, peak in (('ours', ours, jax_peak), ('torch', theirs, torch_peak)):
          gflops = flops / t['best'] / 1e9
          row.update({
              f'{name}_tokens_per_s': tokens / t['best'],
              f'{name}_tokens_per_s_median': tokens / t['median'],
              f'{name}_s': t['times'],
              f'{name}_cpu_util': t['cpu_util'],
              f'{name}_gflops': gflops,
              f'{name}_mfu': gflops / peak,
              f'{name}_mfu_vs_best_peak': gflops / best_peak,
          })
        row['ratio'] = row['ours_tokens_per_s'] / row['torch_tokens_per_s']
        row['ratio_median'] = (row['ours_tokens_per_s_median']
                               / row['torch_tokens_per_s_median'])
        rows.append(row)
      del fns, timed, theirs
  return rows


def check_targets(rows) -> list[dict[str, Any]]:
  """The issue's fp32 targets for each size and variant run, with the values and `met`."""
  checks = []
  for row in rows:
    size = row['size']
    if row['dtype'] != 'float32' or size not in TARGET_RATIO:
      continue
    for metric, key, target in (('ratio ours/torch', 'ratio', TARGET_RATIO[size]),
                                ('ours MFU', 'ours_mfu', TARGET_MFU[size])):
      checks.append({'size': size, 'variant': row['variant'], 'metric': f'{metric} fp32',
                     'target': target, 'value': row[key], 'met': row[key] >= target,
                     'contended': row['contended']})
  return checks


def _summarize_targets(checks) -> dict[str, Any]:
  """Per variant: whether all its targets are met; and whether any variant meets them all."""
  by_variant = {}
  for check in checks:
    by_variant[check['variant']] = by_variant.get(check['variant'], True) and check['met']
  return {'by_variant': by_variant, 'any_variant_meets_all': any(by_variant.values())
          if by_variant else None}


def run(sizes, dtypes, *, variants=('xla-default', 'no-ynn'), batch_size: int = 64,
        seq_len: int = 128, threads: int = 0, warmup: int = 1, repeats: int | None = None,
        peak_n: int = 2048, peak_repeats: int = 10, torch_bf16: str = 'autocast',
        xla_flags: str = '', device: str = 'cpu') -> dict[str, Any]:
  """The whole benchmark; returns the JSON-able result. Must run before JAX initialises."""
  unknown = (sorted(set(sizes) - set(SIZES)) + sorted(set(dtypes) - set(DTYPES))
             + sorted(set(variants) - set(VARIANTS)))
  if unknown:
    raise ValueError(f'unknown sizes/dtypes/variants {unknown}; sizes: {sorted(SIZES)}, '
                     f'dtypes: {DTYPES}, variants: {sorted(VARIANTS)}')
  settings = common.setup_device(device, threads or common.num_cores(), xla_flags)
  import jax  # pylint: disable=g-import-not-at-top
  settings['jax_devices'] = [str(d) for d in jax.devices()]
  settings['torch_bf16'] = torch_bf16
  variant_options = {v: VARIANTS[v] for v in variants}
  settings['variants'] = variant_options

  t0 = time.perf_counter()
  peak_args = dict(warmup=2, repeats=peak_repeats, jax_variants=variant_options, device=device)
  peak_start = common.matmul_peaks(peak_n, dtypes, **peak_args)
  rows = []
  for size in sizes:
    rows += run_size(size, dtypes, variant_options, peak_start, batch_size=batch_size,
                     seq_len=seq_len, warmup=warmup,
                     repeats=repeats or DEFAULT_REPEATS[size], torch_bf16=torch_bf16,
                     device=device)
  peak_end = common.matmul_peaks(peak_n, dtypes, **peak_args)
  peaks = {name: max(peak_start[name], peak_end[name], key=lambda p: p['gflops'])
           for name in peak_start}
  for row in rows:  # MFU against the best peak seen, start or end.
    jax_peak = peaks[f'jax_{row["dtype"]}']['gflops']
    torch_peak = peaks[f'torch_{row["dtype"]}']['gflops']
    for name, peak in (('ours', jax_peak), ('torch', torch_peak)):
      row[f'{name}_mfu'] = row[f'{name}_gflops'] / peak
      row[f'{name}_mfu_vs_best_peak'] = row[f'{name}_gflops'] / max(jax_peak, torch_peak)
  targets = check_targets(rows)
  return {
      'benchmark': 'encode_throughput',
      'machine': common.machine_info(),
      'settings': {**settings, 'batch_size': batch_size, 'seq_len': seq_len, 'warmup': warmup,
                   'repeats': repeats or {size: DEFAULT_REPEATS[size] for size in sizes},
                   'vocab_size': VOCAB_SIZE,
                   'timing': 'best of repeats (median also given); ours and torch interleaved',
                   'mfu': 'model matmul FLOP/s / best measured n^3 matmul FLOP/s of the same '
                          'framework and dtype (JAX: best over variants)'},
      'peaks_gflops': peaks,
      'peaks_start': peak_start,
      'peaks_end': peak_end,
      'rows': rows,
      'targets': targets,
      'targets_summary': _summarize_targets(targets),
      'wall_s': time.perf_counter() - t0,
  }


def format_report(result: dict[str, Any]) -> str:
  """A readable summary: machine, peaks, the table and the targets."""
  m, s = result['machine'], result['settings']
  peaks = result['peaks_gflops']
  lines = [f'{m["cpu_model"]} (family/model {m["cpu_family_model"]}), '
           f'{m["schedulable_cores"]} cores, AMX={m["isa"]["amx_bf16"]}, '
           f'AVX512_BF16={m["isa"]["avx512_bf16"]}; jax {m.get("jax_version")}, '
           f'torch {m.get("torch_version")}; {common.device_line(s)}; batch {s["batch_size"]} '
           f'x {s["seq_len"]} tokens, vocab {s["vocab_size"]}',
           f'variants of ours (XLA compiler options): {s["variants"]}',
           f'matmul peaks, GFLOP/s (n={next(iter(peaks.values()))["n"]}): '
           + ', '.join(f'{k}={v["gflops"]:.0f}' for k, v in peaks.items())]
  columns = [('size', 'size', ''), ('dtype', 'dtype', ''), ('variant', 'ours variant', ''),
             ('ours_tokens_per_s', 'ours tok/s', ',.0f'),
             ('torch_tokens_per_s', 'torch tok/s', ',.0f'), ('ratio', 'ours/torch', '.2f'),
             ('ours_mfu', 'ours MFU', '.1%'), ('torch_mfu', 'torch MFU', '.1%'),
             ('ours_mfu_vs_best_peak', 'ours MFU (best peak)', '.1%'),
             ('max_abs_diff_vs_torch', 'max|diff|', '.1e'),
             ('other_processes_cores', 'other load', '.2f')]
  lines.append(common.format_table(result['rows'], columns))
  contended = sorted({f'{r["size"]}/{r["dtype"]}' for r in result['rows'] if r['contended']})
  if contended:
    lines.append(f'UNRELIABLE (other processes kept > {common.CONTENDED_CORES} cores busy while '
                 f'timing): {", ".join(contended)}')
  lines += [common.target_line(t, f'{t["size"]} [{t["variant"]}]',
                               ' (contended)' if t['contended'] else '')
            for t in result['targets']]
  if result['targets_summary']['any_variant_meets_all'] is False:
    lines.append('TARGETS NOT MET by any variant of ours.')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  quick = _QUICK.value
  result = run(_SIZES.value, _DTYPES.value, variants=_VARIANTS.value, batch_size=_BATCH_SIZE.value,
               seq_len=_SEQ_LEN.value, threads=_THREADS.value, warmup=_WARMUP.value,
               repeats=1 if quick else _REPEATS.value,
               peak_n=512 if quick else _PEAK_N.value,
               peak_repeats=2 if quick else _PEAK_REPEATS.value,
               torch_bf16=_TORCH_BF16.value, xla_flags=_XLA_FLAGS.value, device=_DEVICE.value)
  result['settings']['quick'] = quick
  common.write_json(result, _OUTPUT.value)
  print(format_report(result), file=sys.stderr if not _OUTPUT.value else sys.stdout)


if __name__ == '__main__':
  blas_env.reexec_without_overrides()
  app.run(main)
