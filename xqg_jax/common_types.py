"""Logical axis names and model modes shared by model code and sharding rules.

Model code names axes only through these constants; `config.logical_axis_rules` maps each
name to a mesh axis (`'data'`, `'model'`) or to None (replicated).
"""

# Activations and weights.
BATCH = 'batch'
LENGTH = 'length'
EMBED = 'embed'
HEADS = 'heads'
KV = 'kv'
MLP = 'mlp'
VOCAB = 'vocab'

# Decoder KV cache ("cache" collection).
CACHE_BATCH = 'cache_batch'
CACHE_LENGTH = 'cache_length'
CACHE_HEADS = 'cache_heads'
CACHE_KV = 'cache_kv'

LOGICAL_AXES = (BATCH, LENGTH, EMBED, HEADS, KV, MLP, VOCAB,
                CACHE_BATCH, CACHE_LENGTH, CACHE_HEADS, CACHE_KV)

# Model modes: full-sequence training, prompt prefill, and one-token cached decode steps.
MODE_TRAIN = 'train'
MODE_PREFILL = 'prefill'
MODE_DECODE = 'decode'
