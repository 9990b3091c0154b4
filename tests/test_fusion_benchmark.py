"""Smoke test of benchmarks/fusion_throughput.py (tiny sizes; the speeds are not checked)."""

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_fusion_throughput_smoke(tmp_path):
  output = tmp_path / 'fusion.json'
  env = {k: v for k, v in os.environ.items() if k not in ('XLA_FLAGS', 'JAX_PLATFORMS')}
  env.update(JAX_PLATFORMS='cpu', TF_CPP_MIN_LOG_LEVEL='2')
  subprocess.run([sys.executable, '-m', 'benchmarks.fusion_throughput', '--quick',
                  f'--workdir={tmp_path}', f'--output={output}'], cwd=REPO, env=env,
                 check=True, timeout=120, capture_output=True)
  result = json.loads(output.read_text())
  assert result['benchmark'] == 'fusion_throughput'
  assert result['machine']['cpu_model'] and result['settings']['quick']
  settings, sizes = result['settings'], result['sizes']
  assert settings['questions_per_passage'] == len(settings['languages']) * 5 == 35
  assert sizes['num_passages'] == settings['shard_passages'] * settings['num_shards']
  assert sizes['input_bytes'] == sizes['shard_bytes'] * settings['num_shards']
  assert sizes['shard_bytes'] == 36 * settings['shard_passages'] * settings['dim'] * 4
  assert sizes['output_bytes'] > sizes['num_passages'] * settings['dim'] * 4
  for name in ('ours', 'numpy'):
    summary = result[name]
    for key in ('gb_per_s', 'gb_per_s_median', 'passages_per_s', 'best_s'):
      assert summary[key] > 0, (name, key)
    assert summary['peak_rss_bytes'] >= summary['baseline_rss_bytes'] > 0
    assert len(summary['runs']) == settings['repeats'] == 1
  assert result['ratio_ours_vs_numpy'] > 0
  assert result['max_abs_diff_vs_numpy'] < 1e-5  # The same formula on the same inputs.
  assert list(tmp_path.iterdir()) == [output]  # The inputs and outputs are cleaned up.
