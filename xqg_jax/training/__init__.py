"""Shared training machinery: optimizer, sharded state, checkpoints, metrics, the loop."""
