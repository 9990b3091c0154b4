"""Helpers for tests that damage saved Hugging Face checkpoints."""

import json

import safetensors.torch


def saved(model, path):
  """Saves a transformers `model` to `path`; returns (path, config dict, tensors)."""
  model.save_pretrained(path)
  return path, json.loads((path / 'config.json').read_text()), safetensors.torch.load_file(
      path / 'model.safetensors')


def rewrite(path, config=None, tensors=None):
  """Overwrites the checkpoint's config.json and/or model.safetensors."""
  if config is not None:
    (path / 'config.json').write_text(json.dumps(config))
  if tensors is not None:
    safetensors.torch.save_file(tensors, path / 'model.safetensors', metadata={'format': 'pt'})
