"""XLA compiler options chosen per backend in the config (measured, not guessed)."""

from typing import Any, Mapping

import jax

BACKENDS = ('cpu', 'gpu', 'tpu')


def for_backend(options: Mapping[str, Mapping[str, Any]],
                backend: str | None = None) -> dict[str, Any] | None:
  """The compiler options that `options` ({backend: {option: value}}) gives `backend` (default:
  JAX's default backend); None (XLA's own) when it names none."""
  chosen = options.get(backend or jax.default_backend())
  return dict(chosen) if chosen else None


def check(options: Mapping[str, Mapping[str, Any]], field: str) -> None:
  """Raises ValueError naming `field` when `options` names an unknown backend or an option
  value XLA cannot take (compiler options are strings, booleans or numbers)."""
  unknown = sorted(set(options) - set(BACKENDS))
  if unknown:
    raise ValueError(f'{field}: unknown backends {unknown}; expected some of {BACKENDS}')
  for backend, chosen in options.items():
    for name, value in chosen.items():
      if not isinstance(value, (str, bool, int, float)):
        raise ValueError(f'{field}.{backend}.{name}={value!r}: must be a string, boolean or '
                         'number')
