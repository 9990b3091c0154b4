"""Smoke tests of the benchmark scripts (tiny sizes; the numbers themselves are not checked)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest


REPO = pathlib.Path(__file__).resolve().parents[1]


def _run_module(module: str, *args: str) -> None:
  """Runs `python -m module args` from the repo root in a clean JAX environment."""
  env = {k: v for k, v in os.environ.items() if k not in ('XLA_FLAGS', 'JAX_PLATFORMS')}
  env.update(JAX_PLATFORMS='cpu', HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1',
             TF_CPP_MIN_LOG_LEVEL='2')
  subprocess.run([sys.executable, '-m', module, *args], cwd=REPO, env=env, check=True,
                 timeout=120, capture_output=True)


def test_encode_throughput_smoke(tmp_path):
  output = tmp_path / 'encode.json'
  _run_module('benchmarks.encode_throughput', '--quick', '--sizes=tiny', '--batch_size=2',
              '--seq_len=16', '--dtypes=float32,bfloat16', f'--output={output}')
  result = json.loads(output.read_text())
  assert {'machine', 'settings', 'peaks_gflops', 'rows', 'targets'} <= set(result)
  assert result['machine']['cpu_model'] and result['machine']['jax_version']
  assert result['settings']['threads'] == result['settings']['torch_num_threads'] >= 1
  for name in ('jax_float32', 'jax_bfloat16', 'torch_float32', 'torch_bfloat16'):
    assert result['peaks_gflops'][name]['gflops'] > 0
  variants = list(result['settings']['variants'])
  assert variants
  assert [(r['size'], r['dtype'], r['variant']) for r in result['rows']] == [
      ('tiny', dtype, variant) for dtype in ('float32', 'bfloat16') for variant in variants]
  for row in result['rows']:
    for key in ('ours_tokens_per_s', 'torch_tokens_per_s', 'ratio', 'ours_mfu', 'torch_mfu'):
      assert row[key] > 0, (key, row)
  for row in result['rows'][:len(variants)]:  # Same weights, fp32.
    assert row['max_abs_diff_vs_torch'] < 1e-4, row
  assert result['targets'] == []  # Targets are for the minilm and base sizes only.


def test_generate_throughput_smoke(tmp_path):
  output = tmp_path / 'generate.json'
  _run_module('benchmarks.generate_throughput', '--quick', '--dtypes=float32',
              f'--output={output}')
  result = json.loads(output.read_text())
  assert result['benchmark'] == 'generate_throughput'
  assert {'machine', 'settings', 'sizes', 'rows', 'targets', 'all_targets_met'} <= set(result)
  settings = result['settings']
  assert settings['quick'] and settings['threads'] == settings['torch_num_threads'] >= 1
  assert result['machine']['cpu_model'] and result['machine']['jax_version']
  (size,) = result['sizes']
  assert size['size'] == 'mini' and size['max_abs_logit_diff_fp32'] < 1e-4  # Same weights.
  rows = {(row['framework'], row['dtype']): row for row in result['rows']}
  assert set(rows) == {('ours', 'float32'), ('torch', 'float32')}
  for row in rows.values():
    for key in ('queries_per_s', 'queries_per_s_median', 'new_tokens_per_s',
                'ratio_vs_torch_fp32', 'cpu_util'):
      assert row[key] > 0, (key, row)
    assert row['steps'] == settings['max_new_tokens']  # Both generated every token.
  assert rows['ours', 'float32']['compile_s'] >= 0 < rows['ours', 'float32']['first_call_s']
  assert result['targets'] == []  # Targets are for the tiny and mt5-small sizes only.
  limits = result['limits']
  assert limits['fp32_matmul_peak_gflops'] > 0 and limits['read_bandwidth_gb_per_s'] > 0
  for row in rows.values():
    assert row['roofline']['bound_s'] > 0 and row['roofline_efficiency'] > 0
    assert row['roofline']['decode_limit'] in ('memory', 'compute')


def test_roofline_counts_a_decode_step_by_hand():
  from benchmarks import roofline  # pylint: disable=g-import-not-at-top
  config = dict(vocab_size=10, d_model=4, num_layers=1, num_decoder_layers=2, num_heads=1,
                d_kv=2, d_ff=8)
  cost = roofline.generation_cost(config, prompts=3, samples=2, prompt_len=5, new_tokens=2,
                                  weight_bytes=4, cache_bytes=2)
  # Decoder weights read per step: 2 layers x (6 x 4 x 2 attention + 3 x 4 x 8 FFN) + 4 x 10.
  weights = 2 * (6 * 4 * 2 + 3 * 4 * 8) + 40
  assert cost['decode_weights'] == weights == 328
  first = cost['steps'][0]  # step 1 attends 1 + 5 positions in each of 2 layers, 6 sequences
  assert first['flops'] == 2 * weights * 6 + 2 * 4 * 6 * 2 * 6
  assert first['bytes'] == weights * 4 + 2 * 2 * 6 * 2 * 6 * 2
  # Shared by the 2 samples of each of the 3 prompts, the 5 cross-attention rows are read 3
  # times, not 6; each sequence still reads its 1 self-attention row.
  shared = roofline.generation_cost(config, prompts=3, samples=2, prompt_len=5, new_tokens=2,
                                    weight_bytes=4, cache_bytes=2, shared_cross_cache=True)
  assert shared['steps'][0]['bytes'] == weights * 4 + 2 * 2 * 2 * (6 * 1 + 3 * 5) * 2
  assert shared['steps'][0]['flops'] == first['flops']
  # Encoder: 1 layer x (4 x 4 x 2 + 3 x 4 x 8) weights over 15 tokens, 3 x 5^2 attention, and
  # the cross-attention K/V of 2 layers projected once.
  assert cost['encoder_flops'] == 2 * 128 * 15 + 4 * 3 * 25 * 2 + 2 * (2 * 2 * 4 * 2) * 15
  limits = roofline.bound(cost, peak_flops=1e3, bandwidth=1e3)
  assert limits['bound_s'] == pytest.approx(
      cost['encoder_flops'] / 1e3 + sum(max(st['flops'], st['bytes']) / 1e3
                                        for st in cost['steps']))


def test_a_benchmark_runs_without_the_blas_overrides_and_reports_them(tmp_path):
  """OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for the benchmark's own command only."""
  output = tmp_path / 'fusion.json'
  env = {k: v for k, v in os.environ.items() if k not in ('XLA_FLAGS', 'JAX_PLATFORMS')}
  env.update(JAX_PLATFORMS='cpu', OPENBLAS_CORETYPE='Haswell', OPENBLAS_L2_SIZE='262144')
  subprocess.run([sys.executable, '-m', 'benchmarks.fusion_throughput', '--quick',
                  f'--workdir={tmp_path}', f'--output={output}'], cwd=REPO, env=env,
                 check=True, timeout=120, capture_output=True)
  blas = json.loads(output.read_text())['blas']
  assert blas['unset'] == {'OPENBLAS_CORETYPE': 'Haswell', 'OPENBLAS_L2_SIZE': '262144'}
  assert blas['still_set'] == {}
  assert any(lib['api'] == 'openblas' for lib in blas['libraries'])  # NumPy's
  assert os.environ.get('OPENBLAS_CORETYPE') != 'Haswell'  # ours untouched


def test_scale_curve_smoke(tmp_path):
  output, plot = tmp_path / 'scale.json', tmp_path / 'scale.png'
  work = tmp_path / 'work'
  work.mkdir()
  _run_module('benchmarks.scale_curve', '--quick', f'--workdir={work}', f'--output={output}',
              f'--plot={plot}')
  result = json.loads(output.read_text())
  settings = result['settings']
  assert [s['passages'] for s in result['sizes']] == settings['passages'] == [300, 900]
  small, large = result['sizes']
  assert (small['num_shards'], large['num_shards']) == (1, 3)
  assert list(small['steps']) == ['encode', 'fuse', 'index', 'search']
  assert list(large['steps']) == ['fuse', 'index', 'search']  # above encode_max_passages
  assert large['question_bytes'] == 900 * settings['questions_per_passage'] * 128 * 4
  for size in result['sizes']:
    for row in size['steps'].values():
      assert row['wall_s'] > 0 and row['peak_rss_bytes'] >= row['baseline_rss_bytes'] > 0
    # ScaNN may find fewer than k candidates for a few queries in so small an index.
    assert 0.9 * settings['k'] <= size['steps']['search']['hits_per_query'] <= settings['k']
  assert set(result['growth']) == {'fuse', 'index', 'search'}
  assert plot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert list(work.iterdir()) == []  # Inputs, indexes and models are cleaned up.


def test_real_corpus_cost_counts_training_by_hand():
  from benchmarks import real_corpus_cost as cost  # pylint: disable=g-import-not-at-top
  h100 = next(m for m in cost.MACHINES if m.name.startswith('NVIDIA'))
  hours = cost.stage_hours(h100)
  d, f, layers = 768, 3072, 12

  def forward(tokens):
    return layers * (2 * tokens * (4 * d * d + 2 * d * f) + 4 * tokens ** 2 * d)
  flops = 3 * 15_250 * 40 * (forward(32) + 8 * forward(128))
  assert hours['train_xdr'] == pytest.approx(flops / (989e12 * 0.4) / 3600)
  # Reading the cross-attention cache once per prompt instead of once per sample saves time.
  assert hours['generate'] < hours['generate (cross cache per sample)']
  assert '| total |' in cost.report()


def test_gpu_device_without_a_gpu_is_a_clear_error():
  from benchmarks import common  # pylint: disable=g-import-not-at-top
  before = dict(os.environ)
  with pytest.raises(RuntimeError, match='PyTorch sees no CUDA device'):
    common.setup_device('gpu', 1)
  assert dict(os.environ) == before  # Nothing was changed on the way to the error.
  with pytest.raises(ValueError, match="device must be one of \\('cpu', 'gpu'\\)"):
    common.setup_device('tpu', 1)
