"""The `--config` flag: a config file path, or a preset name (`tiny`, `base`, `large`).

`--config=tiny`, `--config=tiny:entities=500`, `--config=path/to/my_config.py:arg`, with
`--config.a.b=value` overrides, exactly as `ml_collections.config_flags` gives for paths.
"""

from absl import flags
from etils import epath
from ml_collections import config_flags
from ml_collections.config_flags import config_flags as config_flags_impl

PRESETS = ('tiny', 'base', 'large', 'xor_tydi')
_CONFIG_DIR = epath.resource_path('xqg_jax') / 'configs'


def resolve(spec: str) -> str:
  """Maps a preset name (with optional `:arg`) to its file; leaves paths unchanged."""
  name, sep, arg = spec.partition(':')
  if name in PRESETS:
    return f'{_CONFIG_DIR / (name + ".py")}{sep}{arg}'
  if not name.endswith('.py') and not epath.Path(name).exists():
    raise ValueError(f'--config={spec!r}: {name!r} is neither a preset ({", ".join(PRESETS)}) '
                     'nor a config file')
  return spec


def load(spec: str):
  """The locked config that `--config=spec` gives (a preset with optional `:arg`, or a path)."""
  return _PresetConfigFileParser(name='config', lock_config=True).parse(spec)


class _PresetConfigFileParser(config_flags_impl.ConfigFileFlagParser):

  def parse(self, path):
    return super().parse(resolve(path))


def define_config_flag(name: str = 'config', default: str | None = None):
  """Defines `--{name}` taking a preset or a path, locked, with field overrides."""
  holder = config_flags.DEFINE_config_file(
      name, default, f'Config preset ({", ".join(PRESETS)}) or path to a config .py file.',
      lock_config=True)
  flags.FLAGS[name].parser = _PresetConfigFileParser(name=name, lock_config=True)
  return holder


def define_workdir_flag():
  return flags.DEFINE_string('workdir', None, 'Directory for all outputs (local or gs://).',
                             required=True)
