"""The declared stage graph: a recorded result is reused only while what it read is unchanged."""

import json
import os

import pytest

from launch import stages
from xqg_jax.configs import tiny
from xqg_jax.io import stage_dir as stage_lib
from xqg_jax.io import stage_graph
from xqg_jax.io.stage_graph import Stage


def _config():
  return tiny.get_config()


def _changed(value):
  """A value of the same type that differs from `value`."""
  if isinstance(value, bool):
    return not value
  if isinstance(value, (int, float)):
    return value + 1
  if isinstance(value, str):
    return value + '_changed'
  if isinstance(value, tuple):
    return (*value, value[-1]) if value else ('x',)
  raise TypeError(f'no change for {value!r}')


def _get(config, dotted):
  for part in dotted.split('.'):
    config = config[part]
  return config


def _set(config, dotted, value):
  *parents, leaf = dotted.split('.')
  node = config
  for part in parents:
    node = node[part]
  node[leaf] = value


def _upstream_records(stage):
  return {name: {'state': {'made_by': name}} for name in stage.after}


def test_the_pipeline_graph_is_well_formed():
  stage_graph.check_graph(stages.STAGES)
  assert stages.names()[0] == 'data' and stages.names()[-1] == 'robustness'
  with pytest.raises(ValueError, match=r"stage 'a' takes \['b'\], which are not declared"):
    stage_graph.check_graph([Stage('a', None, reads=(), after=('b',)), Stage('b', None, ())])


@pytest.mark.parametrize('name', stages.names())
def test_every_config_field_a_stage_reads_is_in_its_digest(name):
  stage = stages.BY_NAME[name]
  config = _config()
  upstream = _upstream_records(stage)
  record = stage_graph.make_record(stage, config, {'out': 1}, upstream)
  assert stage_graph.problems(stage, config, record, upstream) == []
  fields = list(stage_graph.config_values(stage, config))
  assert fields, name
  for read in stage.reads:  # One leaf of every declared sub-tree, changed, is found by name.
    field = next(f for f in fields if f == read or f.startswith(read + '.'))
    changed = _config()
    _set(changed, field, _changed(_get(changed, field)))
    found = stage_graph.problems(stage, changed, record, upstream)
    assert found and found[0].startswith(f'{field} was '), (name, field, found)
  for before in stage.after:  # A replaced upstream result is found by stage.
    replaced = {**upstream, before: {'state': {'made_by': 'another run'}}}
    assert stage_graph.problems(stage, config, record, replaced) == [
        f"the result of stage {before!r} it used has since been replaced"]


def test_a_file_input_changed_in_place_is_found(tmp_path):
  stage = stages.BY_NAME['data']
  manual = tmp_path / 'manual'
  (manual / 'queries').mkdir(parents=True)
  corpus = manual / 'corpus.tsv'
  corpus.write_text('id\ttext\ttitle\np0\tCairo is in Egypt.\tCairo\n')
  (manual / 'queries/dev.jsonl').write_text('{}\n')
  config = _config()
  config.data.source = 'files'
  config.data.files.corpus = str(corpus)
  config.data.files.dev = str(manual / 'queries/dev.jsonl')
  record = stage_graph.make_record(stage, config, {}, {})
  assert record['files']['data.files.corpus'].startswith('sha256:')
  before = os.stat(corpus)
  corpus.write_text('id\ttext\ttitle\np0\tCairo is in Libya.\tCairo\n')  # same size
  os.utime(corpus, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime
  assert stage_graph.problems(stage, config, record, {}) == [
      f'the content of data.files.corpus ({corpus}) changed since it ran']


def _counting_graph(calls):
  def first(config, workdir, state):
    calls.append('first')
    return {'first': config.seed}

  def second(config, workdir, state):
    calls.append('second')
    return {'second': state['first'] + config.xdr.epochs}

  return (Stage('first', first, reads=('seed',)),
          Stage('second', second, reads=('xdr.epochs',), after=('first',)),
          Stage('third', lambda config, workdir, state: {'third': 'done'}, reads=(),
                after=('second',)))


def test_run_reuses_current_records_and_refuses_stale_ones(tmp_path):
  calls = []
  graph = _counting_graph(calls)
  config = _config()
  with pytest.raises(FileNotFoundError, match="stage 'first' has not run"):
    stage_graph.run(graph, config, tmp_path, ['second'])
  state = stage_graph.run(graph, config, tmp_path, ['first', 'second'])
  assert calls == ['first', 'second'] and list(state['timings']) == ['first', 'second']
  assert state['second'] == config.seed + config.xdr.epochs
  again = stage_graph.run(graph, config, tmp_path, ['second'])  # 'first' reused
  assert calls == ['first', 'second', 'second'] and again['first'] == config.seed
  config.xdr.epochs += 1  # Read by 'second' only: running it alone is right.
  assert stage_graph.run(graph, config, tmp_path, ['second'])['second'] == state['second'] + 1
  config.seed += 1
  with pytest.raises(stage_graph.StaleStageError,
                     match=r"stage 'first' cannot be reused .*: seed was 0 when it ran, is 1 "
                           r'now\. Run it again .*--from_stage=first'):
    stage_graph.run(graph, config, tmp_path, ['second'])
  stage_graph.run(graph, config, tmp_path, ['first'])  # 'second' read the first 'first'
  with pytest.raises(stage_graph.StaleStageError,
                     match="stage 'second'.*the result of stage 'first' it used has since been"):
    stage_graph.run(graph, config, tmp_path, ['third'])
  assert stage_graph.run(graph, config, tmp_path, ['second', 'third'])['third'] == 'done'


def test_verify_passes_a_finished_current_run_only(tmp_path):
  graph, config = _counting_graph([]), _config()
  with pytest.raises(FileNotFoundError, match="stage 'first' has not run"):
    stage_graph.verify(graph, config, tmp_path)
  stage_graph.run(graph, config, tmp_path, ['first', 'second'])
  with pytest.raises(FileNotFoundError, match="stage 'third' has not run"):
    stage_graph.verify(graph, config, tmp_path)
  stage_graph.run(graph, config, tmp_path, ['third'])
  stage_graph.verify(graph, config, tmp_path)
  config.xdr.epochs += 1
  with pytest.raises(stage_graph.StaleStageError, match="stage 'second' cannot be reused"):
    stage_graph.verify(graph, config, tmp_path)


def test_a_record_from_before_config_aware_records_is_refused(tmp_path):
  graph = _counting_graph([])
  path = stage_graph.record_path(tmp_path, 'first')
  path.parent.mkdir()
  path.write_text(json.dumps({'first': 0}))
  with pytest.raises(stage_graph.StaleStageError, match='older version'):
    stage_graph.run(graph, _config(), tmp_path, ['second'])


def test_a_stage_is_given_only_the_fields_it_declares(tmp_path):
  seen = {}

  def peek(config, workdir, state):
    seen['keys'] = sorted(config.keys())
    seen['xdr'] = sorted(config.xdr.keys())
    return {}

  def strays(config, workdir, state):
    return {'epochs': config.xdr.learning_rate}

  config = _config()
  stage_graph.run((Stage('peek', peek, reads=('seed', 'xdr.epochs'),
                         files=('xdr.init_from',)),), config, tmp_path, ['peek'])
  assert seen['keys'] == sorted(('seed', 'xdr', *stage_graph.RUNTIME_FIELDS))
  assert seen['xdr'] == ['epochs', 'init_from']
  with pytest.raises(AttributeError, match="stage 'strays' read the config field "
                                           "'learning_rate', which is not among the fields it "
                                           r"declares \(xdr.epochs\)"):
    stage_graph.run((Stage('strays', strays, reads=('xdr.epochs',)),), config, tmp_path,
                    ['strays'])


def test_work_inside_a_stage_is_redone_when_a_declared_field_changes(tmp_path):
  """A stage's own manifest may name fewer fields than the stage declares (here none): its
  work is still redone when a declared field changes, and reused while none does."""
  calls = []

  def work(config, workdir, state):
    def produce(directory):
      calls.append(config.seed)
      (directory / 'out.txt').write_text(str(config.seed))
      return ['out.txt'], {}
    stage_lib.run(tmp_path / 'work', stage='work', config={}, inputs={}, produce=produce)
    return {'out': (tmp_path / 'work' / 'out.txt').read_text()}

  graph = (Stage('work', work, reads=('seed',)),)
  config = _config()
  assert stage_graph.run(graph, config, tmp_path, ['work'])['out'] == str(config.seed)
  stage_graph.run(graph, config, tmp_path, ['work'])
  assert calls == [config.seed]  # reused: nothing it declares changed
  config.seed += 1
  assert stage_graph.run(graph, config, tmp_path, ['work'])['out'] == str(config.seed)
  assert calls == [config.seed - 1, config.seed]


def test_each_stage_gets_its_own_peak_memory(tmp_path):
  import numpy as np  # pylint: disable=g-import-not-at-top

  def big(config, workdir, state):
    block = np.ones(50_000_000 // 8)  # ~50 MB, touched
    return {'big': float(block.sum())}

  graph = (Stage('big', big, reads=()),
           Stage('small', lambda config, workdir, state: {'small': 1}, reads=(), after=('big',)))
  state = stage_graph.run(graph, _config(), tmp_path, ['big', 'small'])
  peaks = state['peak_rss_bytes']
  assert list(peaks) == ['big', 'small']
  # The peak is reset before each stage: the small stage's does not include the big block.
  assert peaks['big'] - peaks['small'] > 40_000_000
