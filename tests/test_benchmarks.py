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
              '--seq_len=16', f'--output={output}')
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
