"""Retrieval systems: each query searches the corpus of its language, results in query order."""

import numpy as np
import pytest

from xqg_jax.eval import systems


def _search_by_key(calls):
  def search(key, queries):
    calls.append((key, queries[:, 0].tolist()))
    scores = np.tile(queries[:, :1], (1, 2)).astype(np.float32)
    return scores, [[f'{key}:{int(q[0])}', f'{key}:x'] for q in queries]
  return search


def test_routed_search_sends_each_query_to_its_language_corpus():
  system = systems.System('xqg_matched', {'ja': '/ja', 'km': '/km'})
  emb = np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
  calls = []
  scores, docids = systems.routed_search(system, emb, ['km', 'ja', 'km', 'ja', 'ja'],
                                         _search_by_key(calls))
  assert sorted(calls) == [('ja', [1.0, 3.0, 4.0]), ('km', [0.0, 2.0])]
  assert [d[0] for d in docids] == ['km:0', 'ja:1', 'km:2', 'ja:3', 'ja:4']
  np.testing.assert_array_equal(scores[:, 0], [0, 1, 2, 3, 4])


def test_a_system_for_every_language_searches_one_corpus():
  system = systems.System('xdr', {systems.ANY_LANGUAGE: '/corpus'})
  calls = []
  _, docids = systems.routed_search(system, np.ones((3, 2), np.float32), ['ar', 'te', 'ar'],
                                    _search_by_key(calls))
  assert [key for key, _ in calls] == [systems.ANY_LANGUAGE]
  assert all(d[0].startswith('*:') for d in docids)
  assert systems.System.from_dict(system.to_dict()) == system


def test_unrouted_languages_and_empty_systems_are_errors():
  system = systems.System('xqg_matched', {'ja': '/ja'})
  with pytest.raises(ValueError, match="no corpus for queries in 'km'"):
    systems.routed_search(system, np.ones((2, 2), np.float32), ['ja', 'km'], _search_by_key([]))
  with pytest.raises(ValueError, match='2 query embeddings but 1 languages'):
    systems.routed_search(system, np.ones((2, 2), np.float32), ['ja'], _search_by_key([]))
  with pytest.raises(ValueError, match='routes no language'):
    systems.System('empty', {})
