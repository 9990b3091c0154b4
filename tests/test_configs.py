"""Configs: presets by name or path, `:arg` variants, field overrides, locked fields."""

import subprocess
import sys

import pytest

from launch import config_validation
from launch import stages

from xqg_jax.configs import base
from xqg_jax.configs import common
from xqg_jax.configs import flags as config_flags
from xqg_jax.configs import large
from xqg_jax.configs import xor_tydi
from xqg_jax.configs import tiny

import conftest


def test_presets_are_complete_and_differ_only_in_values():
  configs = [tiny.get_config(), base.get_config(), large.get_config()]
  keys = [sorted(c.to_dict()) for c in configs]
  assert keys[0] == keys[1] == keys[2]
  assert configs[1].data.q_max_len == 32 and configs[1].data.p_max_len == 128  # the paper's
  assert configs[0].synthetic.num_entities * 2 == 2000  # tiny: ~2k passages
  assert configs[2].synthetic.num_entities * configs[2].synthetic.passages_per_entity >= 1e6


def test_parse_arg():
  arg = common.parse_arg('entities=5,runlocal', entities=1, runlocal=False, name='x')
  assert arg.entities == 5 and arg.runlocal is True and arg.name == 'x'
  with pytest.raises(ValueError, match="unknown config argument 'nope'"):
    common.parse_arg('nope=1', entities=1)
  with pytest.raises(ValueError, match='needs a value'):
    common.parse_arg('entities', entities=1)
  assert tiny.get_config('entities=77').synthetic.num_entities == 77


def test_resolve_presets_and_paths():
  assert config_flags.resolve('tiny').endswith('configs/tiny.py')
  assert config_flags.resolve('tiny:entities=5').endswith('configs/tiny.py:entities=5')
  assert config_flags.resolve('my/own.py:x') == 'my/own.py:x'
  with pytest.raises(ValueError, match=r"'tiniest' is neither a preset \(tiny, base, large, xor_tydi\)"):
    config_flags.resolve('tiniest')


@pytest.mark.parametrize('get_config', [tiny.get_config, base.get_config, large.get_config,
                                        conftest.small_config])
def test_every_preset_passes_validation(get_config):
  config = get_config()
  config_validation.validate(config)  # raises ConfigError listing the bad fields otherwise
  config.augment.alpha = -0.1  # and the same config with one bad field does not pass
  with pytest.raises(config_validation.ConfigError, match='augment.alpha'):
    config_validation.validate(config)


def test_xor_tydi_names_the_released_files_it_lacks(tmp_path):
  (tmp_path / 'psgs_w100.tsv').write_text('id\ttext\ttitle\n')
  config = xor_tydi.get_config(f'dir={tmp_path},mbert=/m/mbert,mt5=/m/mt5')
  assert config.xdr.init_from == config.tokenizer.encoder == '/m/mbert'
  assert config.xqg.init_from == config.tokenizer.generator == '/m/mt5'
  with pytest.raises(config_validation.ConfigError) as error:
    config_validation.validate(config)
  for name in ('xor_train_retrieve_eng_dpr.json', 'xor_dev_retrieve_eng_span_v1_1.jsonl',
               'xor_test_retrieve_eng_span_q_only_v1_1.jsonl'):
    assert f'{tmp_path}/{name} does not exist' in str(error.value)
  assert 'psgs_w100.tsv' not in str(error.value)


def test_validation_names_every_bad_field_before_any_stage_runs(tmp_path):
  config = tiny.get_config()
  config.augment.alpha = 1.5
  config.generate.languages = ('ar', 'xx')
  config.xqg.optimizer = 'sgd'
  config.mesh = (('data', 3), ('model', 1))
  config.generate.temperature = 0.0
  config.eval.sweep_num_queries = (1, 9)
  config.robustness.attacks = ('char_noise', 'typos')
  config.robustness.char_noise.operations = ('swap',)
  config.robustness.char_noise.lexicon_dir = 'x'  # not a char-noise setting
  config.xdr.compiler_options.npu = {'fast': True}
  config.generate.compiler_options.cpu = {'x': [1]}
  with pytest.raises(config_validation.ConfigError) as error:
    stages.run(config, tmp_path)
  for text in ('augment.alpha must be in [0, 1], got 1.5', "unknown language code 'xx'",
               "xqg.optimizer='sgd': must be one of adamw, adafactor",
               'the sizes multiply to 3, not the device count',
               'SamplingConfig.temperature=0.0: must be > 0',
               'eval.sweep_num_queries=9: must be in [1, 5]',
               "robustness.attacks names 'typos', which has no entry",
               "attack char_noise: unknown settings ['lexicon_dir']",
               "xdr.compiler_options: unknown backends ['npu']",
               'generate.compiler_options.cpu.x=[1]: must be a string, boolean or number'):
    assert text in str(error.value)
  assert not (tmp_path / 'stages').exists()  # nothing ran


_SCRIPT = '''
from absl import app
from xqg_jax.configs import flags as cf
CONFIG = cf.define_config_flag()
def main(argv):
  c = CONFIG.value
  print(c.name, c.synthetic.num_entities, c.seed, c.data.source)
app.run(main)
'''


@pytest.mark.parametrize('args,expected', [
    (['--config=tiny'], 'tiny 1000 0 synthetic'),
    (['--config=tiny:entities=40', '--config.seed=7'], 'tiny 40 7 synthetic'),
    (['--config=base', '--config.data.source=files'], 'base 200000 0 files'),
])
def test_flag_parsing_in_a_real_absl_main(args, expected):
  out = subprocess.run([sys.executable, '-c', _SCRIPT, *args], capture_output=True, text=True,
                       check=True)
  assert out.stdout.strip() == expected


def test_unknown_override_is_an_error():
  out = subprocess.run([sys.executable, '-c', _SCRIPT, '--config=tiny', '--config.nope=1'],
                       capture_output=True, text=True)
  assert out.returncode != 0 and 'nope' in out.stderr


def test_compiler_options_are_chosen_per_backend_from_the_config():
  from xqg_jax.parallel import xla_options  # pylint: disable=g-import-not-at-top
  for options in (tiny.get_config().xdr.compiler_options,
                  tiny.get_config().generate.compiler_options):
    assert xla_options.for_backend(options, 'cpu') == {
        'xla_cpu_experimental_ynn_fusion_type': ''}
    assert xla_options.for_backend(options, 'tpu') is None  # XLA's own
  with pytest.raises(ValueError, match=r"o.cpu.x=\[1\]: must be a string, boolean or number"):
    xla_options.check({'cpu': {'x': [1]}}, 'o')
