"""Validation of model config dataclasses, with errors that name the field and the rule."""

from typing import Iterable


def check(config, checks: Iterable[tuple[str, bool, str]], positive: Iterable[str] = ()) -> None:
  """Raises `ValueError('Class.field=value: must be ...')` for the first failed check.

  `checks` are (field, passed, what it must be); every field in `positive` must be > 0.
  """
  rules = list(checks) + [(name, getattr(config, name) > 0, 'positive') for name in positive]
  for name, ok, expected in rules:
    if not ok:
      raise ValueError(f'{type(config).__name__}.{name}={getattr(config, name)!r}: '
                       f'must be {expected}')
