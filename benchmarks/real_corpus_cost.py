r"""The real corpus on paper: time and cost of each stage on a v5e-8, a v4-32 and one H100.

Nothing here is measured on those machines: every number comes from the FLOPs and bytes of the
paper's workload (18M passages, mBERT-base xDR, mT5-base xQG, 5 questions x 7 languages per
passage) against each machine's public peak figures, the same counts the benchmarks use
(`encode_throughput.model_flops` for BERT, `roofline.generation_cost` for mT5), so that a
run can be checked against them.

- Training and encoding are compute-bound: time = FLOPs / (chips x bf16 peak x MFU), with the
  MFU assumed (`ASSUMED_MFU`; training 3x the forward FLOPs).
- Generation: each decode step's time is max(bytes / bandwidth, FLOPs / peak) per chip for a
  device batch of `generate.batch_size` prompts x 5 samples (`roofline.bound`; a prompt's
  cross-attention cache read once for its samples, as our decoder does), then divided by
  `ASSUMED_ROOFLINE_EFFICIENCY` (the fraction of its roofline a real decode loop reaches; ours
  reaches 0.63-0.81 of it on CPU).
- Fusion reads every generated-question embedding once: bytes / (hosts x host read bandwidth).
- ScaNN builds run on the hosts' CPUs: the scale curve's measured microseconds per passage at
  dim 128 on this 2-core machine, times 6 for dim 768, divided by the hosts' cores / 2.

Usage:
  python -m benchmarks.real_corpus_cost            # the markdown table for BUILD_NOTES.md
"""

import dataclasses
import json
import os
import sys

if __package__ in (None, ''):  # Run as a file: make the `benchmarks` package importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import encode_throughput  # pylint: disable=g-import-not-at-top
from benchmarks import roofline  # pylint: disable=g-import-not-at-top

PASSAGES = 18_000_000
LANGUAGES = 7
QUESTIONS_PER_LANGUAGE = 5
TRAIN_QUESTIONS = 15_250  # XOR-Retrieve training questions
XDR = dict(epochs=40, group_size=8, q_len=32, p_len=128)  # the base config's xDR training
XQG = dict(epochs=5, input_len=256, target_len=64)  # the base config's xQG fine-tuning
GENERATE = dict(prompt_len=256, new_tokens=64, batch_prompts=32)  # upper bounds: padded lengths
MT5_BASE = dict(vocab_size=250112, d_model=768, num_layers=12, num_decoder_layers=12,
                num_heads=12, d_kv=64, d_ff=2048)
DIM = 768
ASSUMED_MFU = 0.4
ASSUMED_ROOFLINE_EFFICIENCY = 0.6
FUSE_HOST_READ_GB_S = 1.0  # gs:// or local SSD per host; this machine's page cache gave 4.2
INDEX_US_PER_PASSAGE_DIM128 = 'benchmarks/results_scale_curve_cpu.json'


@dataclasses.dataclass(frozen=True)
class Machine:
  name: str
  chips: int
  hosts: int
  host_cores: int
  bf16_tflops: float  # per chip, dense
  hbm_gb_s: float  # per chip
  hbm_gb: float  # per chip
  usd_per_hour: float  # the whole slice, on-demand
  source: str
  mesh: str
  shards: str


MACHINES = (
    Machine('TPU v5e-8', chips=8, hosts=1, host_cores=224, bf16_tflops=197, hbm_gb_s=819,
            hbm_gb=16, usd_per_hour=8 * 1.20,
            source='cloud.google.com/tpu/docs/v5e: 197 TFLOP/s bf16, 16 GB HBM2 at 819 GB/s '
                   'per chip, 8 chips per host; $1.20 per chip-hour on-demand (list price, '
                   'check current pricing)',
            mesh="mesh (('data', 8), ('model', 1)): one process, batch split over 8 chips",
            shards='num_corpus_shards=64 (281k passages, 0.86 GB of passage embeddings and '
                   '30 GB of question embeddings per shard): the host takes all 64 in turn'),
    Machine('TPU v4-32', chips=16, hosts=4, host_cores=240, bf16_tflops=275, hbm_gb_s=1200,
            hbm_gb=32, usd_per_hour=16 * 3.22,
            source='cloud.google.com/tpu/docs/v4: 275 TFLOP/s bf16, 32 GiB HBM2 at 1200 GB/s '
                   'per chip; v4-32 = 16 chips on 4 hosts; $3.22 per chip-hour on-demand '
                   '(list price, check current pricing)',
            mesh="mesh (('data', 16), ('model', 1)) over 4 processes (jax.distributed); "
                 'a gs:// workdir',
            shards='num_corpus_shards=64: process p encodes, fuses and indexes shards '
                   'p, p+4, ... (16 per host)'),
    Machine('NVIDIA H100 SXM', chips=1, hosts=1, host_cores=26, bf16_tflops=989, hbm_gb_s=3350,
            hbm_gb=80, usd_per_hour=2.69,
            source='NVIDIA H100 datasheet: 989 TFLOP/s dense bf16, 80 GB HBM3 at 3.35 TB/s '
                   '(measured here on one: 798 TFLOP/s bf16 8192^3 matmul, ~3 TB/s copy); '
                   '$2.69/h on-demand (a third-party price; clouds range about 2.5-11)',
            mesh="mesh (('data', 1), ('model', 1))",
            shards='num_corpus_shards=64, one process takes all in turn'),
)


def _bert_forward(seq_len: int) -> float:
  return encode_throughput.model_flops('base', 1, seq_len)


def _mt5_forward(input_len: int, target_len: int) -> float:
  cost = roofline.generation_cost(MT5_BASE, prompts=1, samples=1, prompt_len=input_len,
                                  new_tokens=target_len, weight_bytes=2, cache_bytes=2)
  return cost['encoder_flops'] + sum(s['flops'] for s in cost['steps'])


def _index_us_per_passage() -> float | None:
  """ScaNN build microseconds per passage at dim 128 on this machine (the scale curve)."""
  if not os.path.exists(INDEX_US_PER_PASSAGE_DIM128):
    return None
  with open(INDEX_US_PER_PASSAGE_DIM128) as f:
    sizes = json.load(f)['sizes']
  return sizes[-1]['steps']['index']['us_per_passage']


def stage_hours(m: Machine) -> dict[str, float]:
  """Hours per stage on machine `m`."""
  peak = m.chips * m.bf16_tflops * 1e12
  hours = {}
  xdr = 3 * TRAIN_QUESTIONS * XDR['epochs'] * (
      _bert_forward(XDR['q_len']) + XDR['group_size'] * _bert_forward(XDR['p_len']))
  hours['train_xdr'] = xdr / (peak * ASSUMED_MFU) / 3600
  xqg = 3 * TRAIN_QUESTIONS * XQG['epochs'] * _mt5_forward(XQG['input_len'], XQG['target_len'])
  hours['train_xqg'] = xqg / (peak * ASSUMED_MFU) / 3600
  prompts = PASSAGES * LANGUAGES
  calls_per_chip = prompts / GENERATE['batch_prompts'] / m.chips
  for name, shared in (('generate', True), ('generate (cross cache per sample)', False)):
    call = roofline.generation_cost(
        MT5_BASE, prompts=GENERATE['batch_prompts'], samples=QUESTIONS_PER_LANGUAGE,
        prompt_len=GENERATE['prompt_len'], new_tokens=GENERATE['new_tokens'], weight_bytes=2,
        cache_bytes=2, shared_cross_cache=shared)
    bound = roofline.bound(call, peak_flops=m.bf16_tflops * 1e12, bandwidth=m.hbm_gb_s * 1e9)
    hours[name] = calls_per_chip * bound['bound_s'] / ASSUMED_ROOFLINE_EFFICIENCY / 3600
    hours[f'_{name} limit'] = bound['decode_limit']
  questions = prompts * QUESTIONS_PER_LANGUAGE
  encode = PASSAGES * _bert_forward(128) + questions * _bert_forward(32)
  hours['encode'] = encode / (peak * ASSUMED_MFU) / 3600
  question_bytes = questions * DIM * 4
  hours['fuse'] = question_bytes / (m.hosts * FUSE_HOST_READ_GB_S * 1e9) / 3600
  index_us = _index_us_per_passage()
  if index_us is not None:
    hours['index'] = (PASSAGES * index_us * 1e-6 * DIM / 128
                      / (m.hosts * m.host_cores / 2)) / 3600
  return hours


def report() -> str:
  """The markdown table: hours and dollars per stage per machine, then the plans."""
  stages = ('train_xdr', 'train_xqg', 'generate', 'encode', 'fuse', 'index')
  rows = {m.name: stage_hours(m) for m in MACHINES}
  variant = 'generate (cross cache per sample)'  # not a stage: generate as HF's would run
  head = '| stage | ' + ' | '.join(f'{m.name} h ($)' for m in MACHINES) + ' |'
  lines = [head, '|' + '---|' * (len(MACHINES) + 1)]
  for stage in stages + ('total', variant):
    cells = []
    for m in MACHINES:
      h = rows[m.name]
      value = (sum(h.get(s, 0.0) for s in stages) if stage == 'total' else h.get(stage))
      cells.append('-' if value is None else f'{value:.2f} (${value * m.usd_per_hour:,.0f})')
    lines.append(f'| {stage} | ' + ' | '.join(cells) + ' |')
  lines.append('')
  for m in MACHINES:
    h = rows[m.name]
    lines.append(f'- **{m.name}**: {m.source}. Decode steps are {h["_generate limit"]}-bound '
                 f'at {GENERATE["batch_prompts"]} prompts x {QUESTIONS_PER_LANGUAGE} samples '
                 f'per chip, the samples of a prompt sharing its cross-attention cache as our '
                 f'decoder does ({h[f"_{variant} limit"]}-bound with a cache per sample). '
                 f'Plan: {m.mesh}; {m.shards}.')
  return '\n'.join(lines)


if __name__ == '__main__':
  print(report())
