"""Progress bars: drawn with rate and ETA on a terminal, absent from logs and other hosts."""

import io
import re
import sys
import time

import numpy as np

from xqg_jax.index import kmeans
from xqg_jax.io import progress


class _Terminal(io.StringIO):
  """A stream that says it is a terminal, as stderr does in an interactive shell."""

  def isatty(self) -> bool:
    return True


def test_bar_on_a_terminal_shows_name_rate_and_eta():
  stream = _Terminal()
  for _ in progress.bar(range(4), desc='encode corpus', unit='row', stream=stream):
    time.sleep(0.3)  # past the bar's 0.5 s refresh interval, so a rate is drawn
  out = stream.getvalue()
  assert 'encode corpus' in out
  assert re.search(r'\d+\.\d+row/s', out)  # a measured rate
  assert '<00:0' in out  # the remaining time
  assert out.endswith('\r')  # a finished bar is cleared; only log lines stay


def test_bar_draws_nothing_when_not_a_terminal():
  stream = io.StringIO()
  bar = progress.bar(desc='train', total=3, stream=stream)
  bar.update(3)
  bar.close()
  assert stream.getvalue() == ''
  assert not progress.enabled(stream)


def test_bar_draws_nothing_on_other_processes(monkeypatch):
  monkeypatch.setattr(progress.jax, 'process_index', lambda: 1)
  assert not progress.enabled(_Terminal())


def test_bar_resumes_from_initial():
  stream = _Terminal()
  bar = progress.bar(desc='train xdr', total=10, initial=7, unit='step', stream=stream)
  bar.close()
  assert '7/10' in stream.getvalue()


def test_a_long_loop_draws_its_bar_on_stderr(monkeypatch):
  stream = _Terminal()
  monkeypatch.setattr(sys, 'stderr', stream)
  rows = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
  kmeans.train(rows, 4, 3, np.random.default_rng(0))
  assert 'k-means 4 centers' in stream.getvalue()
  assert '0/3' in stream.getvalue()  # the bar knows the iterations ahead
