r"""Query generation throughput: our jitted KV-cached `decoding.generate` vs transformers' PyTorch.

The peer is `MT5ForConditionalGeneration.generate(do_sample=True, top_k=50,
num_return_sequences=R, max_new_tokens=T, min_new_tokens=T)` in eval mode under
`torch.inference_mode()`. Both run the same weights (a random-weight torch model saved with
`save_pretrained` and loaded with `hf_t5.load_hf_t5`; the untied LM head drawn with std
d_model**-0.5 so that the logits are O(1)), the same prompts (random ids, right-padded: lengths
drawn from [min_prompt_len, prompt_len], one row full) and the same intra-op threads.

Both generate exactly T tokens per sequence: torch's `min_new_tokens=T` masks EOS until then;
our loop runs until step T or until every sequence has emitted EOS, so each timed call is
checked to have run all T steps (`steps`): the same work per sequence, EOS or not (sequences
that drew EOS early are counted in `eos_before_end`; padding fills their tail). Throughput is
generated queries (sequences) per second, best of the repeats (median also given); the ratio
is against torch fp32. Our compile time (first call minus the best call) is reported apart
from the timings. A max |logit| difference of the first decoder step checks the weights.
Ours compiles with the XLA options the generate stage uses (the base config's
`generate.compiler_options` for the backend).

`--dtypes=float32,bfloat16` adds our bf16 row: matmuls in bf16 (fp32 parameters, norms and
softmax). Off by default: XLA:CPU runs dots with bf16 outputs no faster than fp32 ones here,
so it is slower than fp32 here (measured). `--torch_bf16=autocast|cast` adds
torch in bf16 (CPU autocast or a `.to(bfloat16)` copy; off by default, it is slow).

Roofline: each row also gets the call's least time under the measured fp32 matmul peak and
memory read bandwidth of this machine, from the FLOPs and bytes (weights + KV cache) of every
decode step (`roofline.py`; ours reads a prompt's cross-attention cache once for its samples,
torch once per sample), and `roofline_efficiency` = that bound / the measured time: how far
each size is from its limit, whatever the peer does on this CPU.

Sizes: `tiny` (d_model 256, 4+4 layers, 4 heads, d_kv 64, d_ff 1024, vocab 32000: t5.PRESETS'
tiny with a 32k vocabulary), `mt5-small` (mT5-small's shape, vocab 250112: the LM head
dominates each step) and `mini` (smoke runs).

Usage:
  python -m benchmarks.generate_throughput --output=/tmp/generate.json
  python -m benchmarks.generate_throughput --quick
"""

import itertools
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
from benchmarks import roofline  # pylint: disable=g-import-not-at-top

# T5Config / MT5Config fields (gated-GELU mT5). tiny and mt5-small are t5.PRESETS' shapes.
SIZES = {
    'mini': dict(vocab_size=8000, d_model=128, num_layers=2, num_decoder_layers=2,
                 num_heads=4, d_kv=32, d_ff=512),
    'tiny': dict(vocab_size=32000, d_model=256, num_layers=4, num_decoder_layers=4,
                 num_heads=4, d_kv=64, d_ff=1024),
    'mt5-small': dict(vocab_size=250112, d_model=512, num_layers=8, num_decoder_layers=8,
                      num_heads=6, d_kv=64, d_ff=1024),
}
DTYPES = ('float32', 'bfloat16')
TOP_K = 50
# Issue target, fp32: ours / torch generated queries per second.
TARGET_RATIO = {'tiny': 5.0, 'mt5-small': 5.0}

_SIZES = flags.DEFINE_list('sizes', ['tiny', 'mt5-small'], f'Sizes to run, of {sorted(SIZES)}.')
_DTYPES = flags.DEFINE_list('dtypes', ['float32'], f'Our computation dtypes to run, of {DTYPES}.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 16, 'Passages (prompts) per generate call.')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 5, 'Sampled queries per passage.')
_NEW_TOKENS = flags.DEFINE_integer('max_new_tokens', 32, 'Tokens generated per query.')
_PROMPT_LEN = flags.DEFINE_integer('prompt_len', 128, 'Padded prompt length.')
_MIN_PROMPT_LEN = flags.DEFINE_integer('min_prompt_len', 96, 'Shortest real prompt length.')
_DEVICE = flags.DEFINE_enum('device', 'cpu', ['cpu', 'gpu'], 'Where both frameworks run.')
_THREADS = flags.DEFINE_integer('threads', 0, 'Intra-op threads for both; 0: all usable cores.')
_WARMUP = flags.DEFINE_integer('warmup', 1, 'Untimed calls per contender (after compiling).')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed calls per contender, interleaved.')
_TORCH_BF16 = flags.DEFINE_enum('torch_bf16', 'off', ['off', 'autocast', 'cast'],
                                'Also time torch in bf16: CPU autocast or a .to(bfloat16) copy.')
_CHECK_LOGITS = flags.DEFINE_boolean('check_logits', True,
                                     'Compare first-step logits of both (fp32).')
_QUICK = flags.DEFINE_boolean('quick', False,
                              'Smoke run: sizes=mini unless given, 2 passages x 2 samples x 8 '
                              'tokens, 32-token prompts, no warmup, 1 repeat.')
_XLA_FLAGS = flags.DEFINE_string('xla_flags', '', 'Extra XLA_FLAGS for our side.')
_PEAK_N = flags.DEFINE_integer('peak_n', 2048, 'Matmul size n of the roofline\'s peak.')
_OUTPUT = flags.DEFINE_string('output', '', 'JSON output path; empty prints the JSON.')


def _prompts(batch_size: int, prompt_len: int, min_prompt_len: int, vocab_size: int):
  """Right-padded random prompts `[B, S]` and their mask; the first row is full length."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  lengths = rng.integers(min(min_prompt_len, prompt_len), prompt_len + 1, batch_size)
  lengths[0] = prompt_len
  mask = (np.arange(prompt_len)[None] < lengths[:, None]).astype(np.int32)
  ids = np.where(mask, rng.integers(2, vocab_size, mask.shape), 0).astype(np.int32)
  return ids, mask


def _torch_model(size: str, directory: str):
  """A random-weight eval-mode mT5 with an untied LM head, also saved to `directory`."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  config = transformers.MT5Config(**SIZES[size], feed_forward_proj='gated-gelu',
                                  decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
  model = transformers.MT5ForConditionalGeneration(config)
  with torch.no_grad():  # transformers 5 ties mT5's head to the embedding unless replaced.
    head = torch.randn(model.lm_head.weight.shape) * config.d_model ** -0.5
    model.lm_head.weight = torch.nn.Parameter(head)
  model.eval().save_pretrained(directory)
  return model


def _ours(directory: str, dtype: str, ids, mask, sampling,
          compiler_options) -> tuple[Callable[[], Any], Any]:
  """(A blocking call of our jitted generate, compiled with XLA `compiler_options`, the loaded
  config and params)."""
  import jax  # pylint: disable=g-import-not-at-top
  from xqg_jax.generation import decoding  # pylint: disable=g-import-not-at-top
  from xqg_jax.models import hf_t5  # pylint: disable=g-import-not-at-top
  config, params = hf_t5.load_hf_t5(directory, dtype=dtype)
  keys = decoding.item_keys([(f'passage-{i}', 'bench') for i in range(len(ids))])
  params, ids, mask, keys = jax.device_put((params, ids, mask, keys))
  seeds = itertools.count()  # A new seed per call (traced: no recompilation).

  def run():
    out = decoding.generate(config, params, ids, mask, keys, sampling, seed=next(seeds),
                            compiler_options=compiler_options)
    return jax.block_until_ready(out)
  return run, (config, params)


def _torch(model, dtype: str, mode: str, ids, mask, sampling, device: str) -> Callable[[], Any]:
  """PyTorch `generate` on `device` forced to `max_new_tokens` tokens, under `inference_mode`."""
  import torch  # pylint: disable=g-import-not-at-top
  where = common.TORCH_DEVICES[device]
  ids, mask = torch.from_numpy(ids).long().to(where), torch.from_numpy(mask).long().to(where)
  return common.torch_runner(model.to(where), dtype, mode, lambda m: m.generate(
      input_ids=ids, attention_mask=mask, do_sample=True, top_k=sampling.top_k, top_p=1.0,
      temperature=1.0, num_return_sequences=sampling.num_return_sequences,
      max_new_tokens=sampling.max_new_tokens, min_new_tokens=sampling.max_new_tokens), device)


def _logit_diff(model, config, params, ids, mask, device: str) -> float:
  """Max |logit| difference of the first decoder step (fp32), ours vs torch."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from xqg_jax.models import t5  # pylint: disable=g-import-not-at-top
  start = np.zeros((len(ids), 1), np.int32)
  ours = jax.jit(t5.T5(config).apply)({'params': params}, ids, mask, start)
  where = common.TORCH_DEVICES[device]
  with torch.inference_mode():
    theirs = model.to(where)(
        input_ids=torch.from_numpy(ids).long().to(where),
        attention_mask=torch.from_numpy(mask).to(where),
        decoder_input_ids=torch.from_numpy(start).long().to(where)).logits
  return float(np.max(np.abs(np.asarray(ours) - theirs.cpu().numpy())))


def _compiler_options() -> dict[str, Any] | None:
  """The XLA options our generate runs with: the base config's `generate.compiler_options`
  for JAX's default backend, as the generate stage uses them."""
  from xqg_jax.configs import base  # pylint: disable=g-import-not-at-top
  from xqg_jax.parallel import xla_options  # pylint: disable=g-import-not-at-top
  return xla_options.for_backend(base.get_config().generate.compiler_options)


def run_size(size: str, dtypes, *, batch_size: int, num_samples: int, max_new_tokens: int,
             prompt_len: int, min_prompt_len: int, warmup: int, repeats: int,
             torch_bf16: str, check_logits: bool, limits: dict[str, dict[str, float]],
             compiler_options: dict[str, Any] | None, device: str = 'cpu'
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
  """Times ours (each dtype, compiled with XLA `compiler_options`) and torch (fp32, and bf16
  unless off) at `size`, interleaved.

  Returns:
    (the size's facts: config, logit check, load; one row per contender).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  from xqg_jax.generation import decoding  # pylint: disable=g-import-not-at-top
  sampling = decoding.SamplingConfig(max_new_tokens=max_new_tokens,
                                     num_return_sequences=num_samples, do_sample=True,
                                     top_k=TOP_K)
  ids, mask = _prompts(batch_size, prompt_len, min_prompt_len, SIZES[size]['vocab_size'])
  queries = batch_size * num_samples
  fns, first_call_s = {}, {}
  info = {'size': size, 'config': SIZES[size], 'prompt_lengths': mask.sum(1).tolist()}
  with tempfile.TemporaryDirectory() as directory:
    t0 = time.perf_counter()
    torch_model = _torch_model(size, directory)
    info['torch_init_and_save_s'] = time.perf_counter() - t0
    attn = torch_model.config._attn_implementation  # pylint: disable=protected-access
    info['torch_attn_implementation'] = attn
    for dtype in dtypes:
      t0 = time.perf_counter()
      fns[f'ours_{dtype}'], (config, params) = _ours(directory, dtype, ids, mask, sampling,
                                                     compiler_options)
      load_s = time.perf_counter() - t0
      t0 = time.perf_counter()
      fns[f'ours_{dtype}']()  # Compiles.
      first_call_s[f'ours_{dtype}'] = time.perf_counter() - t0
      info[f'ours_{dtype}_load_s'] = load_s
      if check_logits and dtype == 'float32':
        info['max_abs_logit_diff_fp32'] = _logit_diff(torch_model, config, params, ids, mask,
                                                      device)
      del params
  import copy  # pylint: disable=g-import-not-at-top
  torch_dtypes = ('float32',) + (('bfloat16',) if torch_bf16 != 'off' else ())
  for dtype in torch_dtypes:
    model = copy.deepcopy(torch_model) if dtype != 'float32' else torch_model
    fns[f'torch_{dtype}'] = _torch(model, dtype, torch_bf16, ids, mask, sampling, device)
  with common.LoadMonitor() as load:
    timed = common.time_interleaved(fns, warmup=warmup, repeats=repeats)
  info['other_processes_cores'] = load.other_cores

  rows = []
  for name, t in timed.items():
    framework, dtype = name.split('_')
    row = {'size': size, 'framework': framework, 'dtype': dtype,
           'queries_per_s': queries / t['best'],
           'queries_per_s_median': queries / t['median'],
           'new_tokens_per_s': queries * max_new_tokens / t['best'],
           's': t['times'], 'cpu_util': t['cpu_util']}
    out = t['result']
    if framework == 'ours':
      row['first_call_s'] = first_call_s[name]
      row['compile_s'] = max(0.0, first_call_s[name] - t['best'])
      row['steps'] = int(out.steps)
      row['eos_before_end'] = int((np.asarray(out.lengths) < max_new_tokens).sum())
      if row['steps'] != max_new_tokens:
        raise RuntimeError(f'{name}: every sequence stopped after {row["steps"]} steps, before '
                           f'{max_new_tokens}: not the same work as torch')
    else:
      generated = out.shape[1] - 1  # Without the decoder start token.
      if out.shape[0] != queries or generated != max_new_tokens:
        raise RuntimeError(f'{name}: generated {tuple(out.shape)}, expected '
                           f'({queries}, 1 + {max_new_tokens})')
      row['steps'] = generated
    rows.append(row)
  for row in rows:
    size_of = 2 if row['dtype'] == 'bfloat16' else 4
    cost = roofline.generation_cost(
        SIZES[size], prompts=batch_size, samples=num_samples, prompt_len=prompt_len,
        new_tokens=max_new_tokens, weight_bytes=4, cache_bytes=size_of,
        shared_cross_cache=row['framework'] == 'ours')
    limit = limits.get(row['dtype'], limits['float32'])
    row['roofline'] = roofline.bound(cost, peak_flops=limit['peak_flops'],
                                     bandwidth=limit['bytes_per_s'])
    row['roofline_efficiency'] = row['roofline']['bound_s'] / min(row['s'])
  reference = next(r for r in rows if r['framework'] == 'torch' and r['dtype'] == 'float32')
  for row in rows:
    row['ratio_vs_torch_fp32'] = row['queries_per_s'] / reference['queries_per_s']
    row['ratio_vs_torch_fp32_median'] = (row['queries_per_s_median']
                                         / reference['queries_per_s_median'])
  return info, rows


def check_targets(rows) -> list[dict[str, Any]]:
  """The issue's fp32 targets for the sizes run, each with its measured value and `met`."""
  checks = []
  for row in rows:
    if (row['framework'], row['dtype']) != ('ours', 'float32') or row['size'] not in TARGET_RATIO:
      continue
    target = TARGET_RATIO[row['size']]
    checks.append({'size': row['size'], 'metric': 'queries/s ours fp32 / torch fp32',
                   'target': target, 'value': row['ratio_vs_torch_fp32'],
                   'met': row['ratio_vs_torch_fp32'] >= target})
  return checks


def run(sizes, dtypes, *, batch_size: int = 16, num_samples: int = 5, max_new_tokens: int = 32,
        prompt_len: int = 128, min_prompt_len: int = 96, threads: int = 0, warmup: int = 1,
        repeats: int = 3, torch_bf16: str = 'off', check_logits: bool = True,
        xla_flags: str = '', peak_n: int = 2048, device: str = 'cpu') -> dict[str, Any]:
  """The whole benchmark; returns the JSON-able result. Must run before JAX initialises."""
  unknown = sorted(set(sizes) - set(SIZES)) + sorted(set(dtypes) - set(DTYPES))
  if unknown:
    raise ValueError(f'unknown sizes/dtypes {unknown}; sizes: {sorted(SIZES)}, dtypes: {DTYPES}')
  settings = common.setup_device(device, threads or common.num_cores(), xla_flags)
  import jax  # pylint: disable=g-import-not-at-top,unused-import
  import torch  # pylint: disable=g-import-not-at-top,unused-import
  import transformers  # pylint: disable=g-import-not-at-top,unused-import
  settings['jax_devices'] = [str(d) for d in jax.devices()]
  settings['torch_bf16'] = torch_bf16
  settings['ours_compiler_options'] = _compiler_options()

  peak_dtypes = sorted(set(dtypes) | {'float32'})
  peaks = common.matmul_peaks(peak_n, peak_dtypes, warmup=1, repeats=5, device=device)
  bandwidth = roofline.measure_bandwidth()
  limits = {dt: {'peak_flops': peaks[f'jax_{dt}']['gflops'] * 1e9, **bandwidth}
            for dt in peak_dtypes}
  t0 = time.perf_counter()
  sizes_info, rows = [], []
  for size in sizes:
    info, size_rows = run_size(
        size, dtypes, batch_size=batch_size, num_samples=num_samples,
        max_new_tokens=max_new_tokens, prompt_len=prompt_len, min_prompt_len=min_prompt_len,
        warmup=warmup, repeats=repeats, torch_bf16=torch_bf16, check_logits=check_logits,
        limits=limits, compiler_options=settings['ours_compiler_options'], device=device)
    sizes_info.append(info)
    rows += size_rows
  targets = check_targets(rows)
  return {
      'benchmark': 'generate_throughput',
      'machine': common.machine_info(),
      'settings': {**settings, 'batch_size': batch_size, 'num_samples': num_samples,
                   'max_new_tokens': max_new_tokens, 'min_new_tokens_torch': max_new_tokens,
                   'prompt_len': prompt_len, 'min_prompt_len': min_prompt_len, 'top_k': TOP_K,
                   'warmup': warmup, 'repeats': repeats,
                   'equal_length': 'torch: min_new_tokens=max_new_tokens; ours: every call '
                                   'checked to run all max_new_tokens steps',
                   'timing': 'best of repeats (median also given), contenders interleaved; '
                             'our compile time excluded (reported as compile_s)'},
      'limits': {'fp32_matmul_peak_gflops': limits['float32']['peak_flops'] / 1e9,
                 'read_bandwidth_gb_per_s': bandwidth['bytes_per_s'] / 1e9,
                 'peak': peaks['jax_float32'],
                 'matmul_peak_gflops': {dt: limits[dt]['peak_flops'] / 1e9
                                        for dt in peak_dtypes}},
      'sizes': sizes_info,
      'rows': rows,
      'targets': targets,
      'all_targets_met': all(t['met'] for t in targets) if targets else None,
      'wall_s': time.perf_counter() - t0,
  }


def format_report(result: dict[str, Any]) -> str:
  """A readable summary: machine, workload, the table and the targets."""
  m, s = result['machine'], result['settings']
  lines = [f'{m["cpu_model"]} ({m["cpu_family_model"]}), {m["schedulable_cores"]} cores, '
           f'AMX={m["isa"]["amx_bf16"]}, AVX512_BF16={m["isa"]["avx512_bf16"]}; '
           f'jax {m.get("jax_version")}, torch {m.get("torch_version")}, transformers '
           f'{m.get("transformers_version")}; {common.device_line(s)}',
           f'workload: {s["batch_size"]} prompts of {s["min_prompt_len"]}-{s["prompt_len"]} '
           f'tokens x {s["num_samples"]} samples x {s["max_new_tokens"]} new tokens '
           f'(top-k {s["top_k"]}); {s["warmup"]} warmup, {s["repeats"]} repeats; ours with XLA '
           f'options {s.get("ours_compiler_options")} (the config\'s generate.compiler_options)']
  for info in result['sizes']:
    diff = info.get('max_abs_logit_diff_fp32')
    lines.append(f'{info["size"]}: max |logit diff| fp32 ours vs torch = '
                 f'{"-" if diff is None else format(diff, ".1e")}; other processes kept '
                 f'{info["other_processes_cores"]:.2f} cores busy while timing')
  columns = [('size', 'size', ''), ('framework', 'framework', ''), ('dtype', 'dtype', ''),
             ('queries_per_s', 'queries/s', ',.1f'),
             ('queries_per_s_median', 'median', ',.1f'),
             ('new_tokens_per_s', 'new tok/s', ',.0f'),
             ('ratio_vs_torch_fp32', 'vs torch fp32', '.2f'),
             ('compile_s', 'compile s', '.1f'), ('cpu_util', 'cpu util', '.2f'),
             ('eos_before_end', 'early EOS', 'd'),
             ('roofline_efficiency', 'of roofline', '.2f')]
  lines.append(common.format_table(result['rows'], columns))
  limits = result['limits']
  lines.append(f'roofline: fp32 matmul peak {limits["fp32_matmul_peak_gflops"]:.0f} GFLOP/s, '
               f'read bandwidth {limits["read_bandwidth_gb_per_s"]:.1f} GB/s (both measured now)')
  for row in result['rows']:
    r = row['roofline']
    lines.append(
        f'  {row["size"]} {row["framework"]} {row["dtype"]}: decode step '
        f'{r["bytes_per_step"] / 1e6:.1f} MB, {r["flops_per_step"] / 1e9:.2f} GFLOP ({r["decode_limit"]}-bound); call bound '
        f'{r["bound_s"] * 1e3:.1f} ms vs {min(row["s"]) * 1e3:.1f} ms measured '
        f'({row["roofline_efficiency"]:.0%} of the limit)')
  lines += [common.target_line(t, t['size']) for t in result['targets']]
  if result['all_targets_met'] is False:
    lines.append('NOT ALL TARGETS MET.')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  quick = _QUICK.value
  sizes = ['mini'] if quick and not _SIZES.present else _SIZES.value
  workload = dict(batch_size=_BATCH_SIZE.value, num_samples=_NUM_SAMPLES.value,
                  max_new_tokens=_NEW_TOKENS.value, prompt_len=_PROMPT_LEN.value,
                  min_prompt_len=_MIN_PROMPT_LEN.value)
  if quick:
    quick_workload = dict(batch_size=2, num_samples=2, max_new_tokens=8, prompt_len=32,
                          min_prompt_len=24)
    workload.update({k: v for k, v in quick_workload.items() if not flags.FLAGS[k].present})
  result = run(sizes, _DTYPES.value, **workload, threads=_THREADS.value,
               warmup=0 if quick and not _WARMUP.present else _WARMUP.value,
               repeats=1 if quick and not _REPEATS.present else _REPEATS.value,
               torch_bf16=_TORCH_BF16.value, check_logits=_CHECK_LOGITS.value,
               xla_flags=_XLA_FLAGS.value, peak_n=256 if quick and not _PEAK_N.present
               else _PEAK_N.value, device=_DEVICE.value)
  result['settings']['quick'] = quick
  common.write_json(result, _OUTPUT.value)
  print(format_report(result), file=sys.stderr if not _OUTPUT.value else sys.stdout)


if __name__ == '__main__':
  blas_env.reexec_without_overrides()
  app.run(main)
