"""Checks one record's fields: exact keys, types, non-empty values, languages and duplicates.

A check is a function `(value, field name) -> checked value` that raises `Invalid`; a schema maps
every key to its check, required unless wrapped in `optional`. JSON objects and table rows (columns zipped with their names) go
through the same `check_object`, so every format words its errors alike, e.g.
`missing field 'lang'; extra field 'language'` or `field 'question' is empty`.
"""

import math
import re
from typing import Any, Callable, Hashable, Mapping, Sequence

from xqg_jax import languages as languages_lib

Check = Callable[[Any, str], Any]
Schema = Mapping[str, 'Check | Optional']

_JSON_TYPES = {dict: 'object', list: 'array', str: 'string', bool: 'boolean', int: 'number',
               float: 'number', type(None): 'null'}
_INTEGER = re.compile(r'[+-]?[0-9]+')


class Optional:
  """A schema entry whose key may be absent (its value is then `default`)."""

  def __init__(self, check: 'Check', default: Any):
    self.check, self.default = check, default


def optional(check: 'Check', default: Any = None) -> Optional:
  """Marks a schema key as optional: absent, it reads as `default`."""
  return Optional(check, default)


class Invalid(ValueError):
  """A bad record; `kind` is what the skip policy counts it under."""

  def __init__(self, kind: str, problem: str):
    super().__init__(problem)
    self.kind = kind
    self.problem = problem


def json_type(value: Any) -> str:
  """The JSON name of a decoded value's type (`array`, `string`, `null`, ...)."""
  return _JSON_TYPES.get(type(value), type(value).__name__)


def _wrong_type(name: str, expected: str, value: Any) -> Invalid:
  return Invalid('wrong_type', f'field {name!r} must be {expected}, got {json_type(value)}')


def _empty(name: str) -> Invalid:
  return Invalid(f'empty_{name.rpartition(".")[2]}', f'field {name!r} is empty')


def _field_names(keys: Sequence[str], prefix: str) -> str:
  word = 'field' if len(keys) == 1 else 'fields'
  return f'{word} ' + ', '.join(repr(prefix + key) for key in keys)


def check_object(obj: Mapping[str, Any], schema: Schema, prefix: str = '') -> dict[str, Any]:
  """Checks that `obj` has every required key of `schema` and no other; returns the checked
  values by key (an absent optional key as its default).

  Missing and extra keys are reported together, by name (`prefix` + key).
  """
  missing = [key for key, check in schema.items()
             if key not in obj and not isinstance(check, Optional)]
  extra = [key for key in obj if key not in schema]
  if missing or extra:
    problems = [f'missing {_field_names(missing, prefix)}'] if missing else []
    if extra:
      problems.append(f'extra {_field_names(extra, prefix)}')
    raise Invalid('missing_field' if missing else 'extra_field', '; '.join(problems))
  out = {}
  for key, check in schema.items():
    if isinstance(check, Optional):
      out[key] = check.check(obj[key], prefix + key) if key in obj else check.default
    else:
      out[key] = check(obj[key], prefix + key)
  return out


def string(*, non_empty: bool = False) -> Check:
  """A string; with `non_empty`, a blank one is bad (kind `empty_<field>`)."""

  def check(value, name):
    if not isinstance(value, str):
      raise _wrong_type(name, 'a string', value)
    if non_empty and not value.strip():
      raise _empty(name)
    return value

  return check


def items(item: Check, *, non_empty: bool = False) -> Check:
  """A JSON array whose elements pass `item`, returned as a tuple."""

  def check(value, name):
    if not isinstance(value, list):
      raise _wrong_type(name, 'an array', value)
    if non_empty and not value:
      raise _empty(name)
    return tuple(item(element, f'{name}[{i}]') for i, element in enumerate(value))

  return check


def nested(schema: Schema, build: Callable[..., Any]) -> Check:
  """A JSON object with exactly the keys of `schema`, turned into `build(**checked values)`."""

  def check(value, name):
    if not isinstance(value, dict):
      raise _wrong_type(name, 'an object', value)
    return build(**check_object(value, schema, prefix=f'{name}.'))

  return check


def mapping(key: Check, value: Check) -> Check:
  """A JSON object with free keys; every key passes `key` and every value passes `value`."""

  def check(obj, name):
    if not isinstance(obj, dict):
      raise _wrong_type(name, 'an object', obj)
    return {key(k, name): value(v, f'{name}.{k}') for k, v in obj.items()}

  return check


def language(selected: Sequence[str] | None = None) -> Check:
  """A code from the language table (and, if given, one of `selected`)."""

  def check(value, name):
    string()(value, name)
    try:
      languages_lib.get(value)
    except languages_lib.UnknownLanguageError as e:
      raise Invalid('unknown_language', f'field {name!r}: {e}') from None
    if selected is not None and value not in selected:
      raise Invalid('unselected_language', f'field {name!r}: language {value!r} is not one of '
                    f'the selected languages {", ".join(selected)}')
    return value

  return check


def integer() -> Check:
  """A text column holding a decimal integer."""

  def check(value, name):
    if not _INTEGER.fullmatch(value):
      raise Invalid('not_an_integer', f'field {name!r} must be an integer, got {value!r}')
    return int(value)

  return check


def number() -> Check:
  """A text column holding a finite decimal number."""

  def check(value, name):
    try:
      result = float(value)
    except ValueError:
      result = math.nan
    if not math.isfinite(result):
      raise Invalid('not_a_number', f'field {name!r} must be a finite number, got {value!r}')
    return result

  return check


def literal(expected: str) -> Check:
  """A text column that must read exactly `expected`."""

  def check(value, name):
    if value != expected:
      raise Invalid('unexpected_value', f'field {name!r} must be {expected!r}, got {value!r}')
    return value

  return check


def columns(values: Sequence[str], names: Sequence[str], separator: str) -> dict[str, str]:
  """Names a row's columns; a row with another column count is bad (`wrong_column_count`)."""
  if len(values) != len(names):
    raise Invalid('wrong_column_count', f'expected {len(names)} {separator}-separated columns '
                  f'({", ".join(names)}), got {len(values)}')
  return dict(zip(names, values))


def join_tokens(*values: str) -> str:
  """One whitespace-separated line (with newline); every value must be a single token."""
  for value in values:
    if value.split() != [value]:
      raise ValueError(f'{value!r} is not a single non-empty token without whitespace')
  return ' '.join(values) + '\n'


class Duplicates:
  """Remembers the line where each key first appeared (memory grows with the number of keys)."""

  def __init__(self, label: str):
    self._label = label
    self._first_line: dict[Hashable, int] = {}

  def add(self, key: Hashable, line: int) -> None:
    """Records `key` seen on `line`; raises `Invalid` if it was seen on an earlier line."""
    first = self._first_line.setdefault(key, line)
    if first != line:
      raise Invalid('duplicate', f'duplicate {self._label} {key!r} (first on line {first})')
