"""The roofline of a generate call: FLOPs and bytes counted from the shape, against measured limits.

A T5 / mT5 (gated-GELU) `generate` of `sequences` = prompts x samples sequences runs the
encoder once over the prompts, projects the encoder output to every decoder layer's
cross-attention keys and values once, then `new_tokens` decode steps. A decode step reads every
decoder weight once (self-attention q, k, v, o; cross-attention q, o; the three FFN matrices;
the LM head) and each sequence's KV cache (self-attention up to the step, cross-attention over
the prompt), and does 2 FLOPs per weight per sequence plus the attention products. Its time is
at least max(bytes / bandwidth, FLOPs / peak); the call's bound is the encoder's FLOPs / peak
plus that sum over the steps. `efficiency` = bound / measured time: how close a run is to
what the machine allows. Layer norms, softmax, sampling and the KV-cache writes are left out
(small), so the bound is optimistic by a little. The self-attention cache is read per
sequence; the cross-attention cache per sequence too (transformers' `generate` repeats the
encoder output for each sample), or once per prompt with `shared_cross_cache` (our decoder:
the samples of a prompt attend to its keys and values together).
"""

import time
from typing import Any, Mapping


def generation_cost(config: Mapping[str, int], *, prompts: int, samples: int, prompt_len: int,
                    new_tokens: int, weight_bytes: int, cache_bytes: int,
                    shared_cross_cache: bool = False) -> dict[str, Any]:
  """{'encoder_flops', 'steps': [{'flops', 'bytes'}, ...]} of one generate call."""
  d, inner = config['d_model'], config['num_heads'] * config['d_kv']
  d_ff, vocab = config['d_ff'], config['vocab_size']
  enc_layers, dec_layers = config['num_layers'], config['num_decoder_layers']
  sequences = prompts * samples
  encoder_weights = enc_layers * (4 * d * inner + 3 * d * d_ff)
  cross_kv_weights = dec_layers * 2 * d * inner
  step_weights = dec_layers * (4 * d * inner + 2 * d * inner + 3 * d * d_ff) + d * vocab
  prompt_tokens = prompts * prompt_len
  encoder_flops = (2 * encoder_weights * prompt_tokens
                   + enc_layers * 4 * prompts * prompt_len ** 2 * inner
                   + 2 * cross_kv_weights * prompt_tokens)
  steps = []
  cross_readers = prompts if shared_cross_cache else sequences
  for t in range(1, new_tokens + 1):
    attended = t + prompt_len  # self-attention over the t tokens so far, cross over the prompt
    cached = sequences * t + cross_readers * prompt_len  # cache rows read this step
    steps.append({
        'flops': 2 * step_weights * sequences + dec_layers * 4 * sequences * inner * attended,
        'bytes': step_weights * weight_bytes + dec_layers * 2 * inner * cached * cache_bytes,
    })
  return {'encoder_flops': encoder_flops, 'steps': steps, 'decode_weights': step_weights,
          'sequences': sequences}


def bound(cost: Mapping[str, Any], *, peak_flops: float, bandwidth: float) -> dict[str, Any]:
  """The call's least time under the roofline and what limits its decode steps."""
  steps = cost['steps']
  memory_s = sum(s['bytes'] / bandwidth for s in steps)
  compute_s = sum(s['flops'] / peak_flops for s in steps)
  decode_s = sum(max(s['bytes'] / bandwidth, s['flops'] / peak_flops) for s in steps)
  encoder_s = cost['encoder_flops'] / peak_flops
  return {'bound_s': encoder_s + decode_s, 'encoder_s': encoder_s, 'decode_memory_s': memory_s,
          'decode_compute_s': compute_s,
          'decode_limit': 'memory' if memory_s >= compute_s else 'compute',
          'bytes_per_step': steps[0]['bytes'], 'flops_per_step': steps[0]['flops']}


def measure_bandwidth(mib: int = 512, repeats: int = 5) -> dict[str, float]:
  """Read bandwidth (bytes/s) of a jitted sum over a `mib` MiB float32 array, best of `repeats`
  (run with the benchmark's threads, as our decoding runs)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  x = jnp.ones((mib << 18,), jnp.float32)  # mib MiB of 4-byte floats
  total = jax.jit(jnp.sum)
  total(x).block_until_ready()
  best = float('inf')
  for _ in range(repeats):
    t0 = time.perf_counter()
    total(x).block_until_ready()
    best = min(best, time.perf_counter() - t0)
  return {'mib': mib, 'bytes_per_s': x.nbytes / best}
