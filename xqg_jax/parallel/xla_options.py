"""XLA compiler options per backend, measured rather than guessed.

On CPU (jaxlib 0.10.2), XLA hands dots and row reductions to YNNPACK by default; turning that
off (Eigen dots) made the BERT encoder 1.2x faster here (benchmarks/encode_throughput.py:
mbert-base 842 -> 1,076 tokens/s, minilm 5,654 -> 6,777; AMD EPYC, 2 cores).
"""

import jax

CPU_NO_YNN = {'xla_cpu_experimental_ynn_fusion_type': ''}


def encoder_options() -> dict[str, str] | None:
  """Compiler options for the encoder towers on the default backend (None: XLA's own)."""
  return dict(CPU_NO_YNN) if jax.default_backend() == 'cpu' else None
