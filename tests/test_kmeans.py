"""Seeded k-means for the ScaNN tree: nearest centers, Lloyd steps, empty clusters, the seed."""

import numpy as np
import pytest

from xqg_jax.index import kmeans


def test_nearest_center_equals_brute_force_across_chunks(monkeypatch):
  rng = np.random.default_rng(0)
  rows = rng.normal(size=(1000, 8)).astype(np.float32)
  centers = rng.normal(size=(13, 8)).astype(np.float32)
  monkeypatch.setattr(kmeans, 'CHUNK_ROWS', 97)
  nearest, distance = kmeans.nearest_center(rows, centers)
  squared = ((rows[:, None, :] - centers[None]) ** 2).sum(-1)
  np.testing.assert_array_equal(nearest, squared.argmin(1))
  np.testing.assert_allclose(distance, squared.min(1), rtol=1e-4, atol=1e-4)


def _inertia(sample, centers):
  return kmeans.nearest_center(sample, centers)[1].sum()


def test_lloyd_steps_lower_the_inertia_and_end_at_the_means_of_their_rows():
  rng = np.random.default_rng(1)
  truth = rng.normal(size=(20, 4)).astype(np.float32) * 5
  sample = truth[rng.integers(0, 20, 3000)] + rng.normal(size=(3000, 4)).astype(np.float32)
  inertia = [_inertia(sample, kmeans.train(sample, 20, steps, np.random.default_rng(7)))
             for steps in range(6)]
  assert all(b <= a * (1 + 1e-6) for a, b in zip(inertia, inertia[1:])), inertia
  assert inertia[-1] < 0.5 * inertia[0]
  centers = kmeans.train(sample, 20, 50, np.random.default_rng(7))
  nearest, _ = kmeans.nearest_center(sample, centers)
  for c in np.unique(nearest):
    np.testing.assert_allclose(centers[c], sample[nearest == c].mean(0), atol=1e-4)


def test_train_is_a_function_of_rows_and_seed():
  sample = np.random.default_rng(2).normal(size=(500, 3)).astype(np.float32)
  run = lambda seed: kmeans.train(sample, 8, 5, np.random.default_rng(seed))  # noqa: E731
  np.testing.assert_array_equal(run(7), run(7))
  assert not np.array_equal(run(7), run(8))


class _FirstRows:
  """Draws the first rows as starting centers (so the test can choose a bad start)."""

  def choice(self, n, size, replace):
    assert not replace
    return np.arange(size)


def test_an_emptied_center_moves_to_the_farthest_row():
  sample = np.array([[0.0], [0.0], [10.0], [11.0], [12.0]], np.float32)
  # Both starting centers are 0.0; ties go to the first, so the second is left empty.
  one_step = kmeans.train(sample, 2, 1, _FirstRows())
  np.testing.assert_allclose(one_step[:, 0], [33.0 / 5, 12.0], rtol=1e-6)
  np.testing.assert_array_equal(kmeans.train(sample, 2, 3, _FirstRows())[:, 0], [0.0, 11.0])


def test_more_centers_than_rows_is_an_error():
  with pytest.raises(ValueError, match='5 centers for 3 rows'):
    kmeans.train(np.zeros((3, 2), np.float32), 5, 1, np.random.default_rng(0))
