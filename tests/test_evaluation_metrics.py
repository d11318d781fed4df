"""Tests for vae/evaluation/metrics.py on cases whose answer is known."""

import numpy as np
import tensorflow as tf

from vae.evaluation import metrics


def _gaussian(n, d, seed, shift=0.0):
  return np.random.default_rng(seed).standard_normal((n, d)) + shift


def _with_moments(mean, cov, n, seed):
  """Samples whose sample mean and covariance (np.cov) are exactly given."""
  x = _gaussian(n, len(mean), seed)
  x -= x.mean(0)
  x = np.linalg.solve(np.linalg.cholesky(np.cov(x, rowvar=False)), x.T).T
  return x @ np.linalg.cholesky(cov).T + mean


class CompositeTest(tf.test.TestCase):

  def test_premultiplied_rgba_over_background(self):
    pixel = np.array([0.2, 0.1, 0.0, 0.4], np.float32).reshape(1, 1, 1, 4)
    self.assertAllClose(
        metrics.composite(pixel, background=(1.0, 0.5, 0.0))[0, 0, 0],
        [0.2 + 0.6, 0.1 + 0.3, 0.0])

  def test_transparent_pixels_become_background_and_rgb_passes(self):
    rgb = np.random.default_rng(0).random((2, 4, 4, 3)).astype(np.float32)
    self.assertAllEqual(metrics.composite(rgb), rgb)
    self.assertAllEqual(metrics.composite(np.zeros((1, 2, 2, 4))),
                        np.full((1, 2, 2, 3), 0.5))


class DistanceTest(tf.test.TestCase):

  def test_chunked_distances_match_direct_computation(self):
    a, b = _gaussian(37, 300, 0), _gaussian(23, 300, 1)
    direct = np.linalg.norm(a[:, None] - b[None], axis=-1)
    self.assertAllClose(metrics.pairwise_distances(a, b, chunk_size=8), direct)
    dist, index = metrics.nearest_neighbour(a, b, chunk_size=8)
    self.assertAllEqual(index, direct.argmin(1))
    self.assertAllClose(dist, direct.min(1))

  def test_near_copies_in_pixel_space_keep_their_small_distance(self):
    # A float32 |a|^2 + |b|^2 - 2ab errs by ~5% on these distances (~0.11).
    rng = np.random.default_rng(0)
    a = rng.random((3, 12288)).astype(np.float32)
    b = a + (1e-3 * rng.standard_normal(a.shape)).astype(np.float32)
    direct = np.linalg.norm(a.astype(np.float64) - b, axis=1)
    self.assertAllClose(np.diag(metrics.pairwise_distances(a, b)), direct,
                        rtol=1e-6)


class FrechetDistanceTest(tf.test.TestCase):

  def test_set_against_itself_is_zero(self):
    x = _gaussian(1000, 64, 0)
    # Only the eigen-decompositions' rounding remains: ~1e-8 relative to the
    # trace of the covariance (~64 here), so 1e-5 absolute is generous.
    self.assertAllClose(metrics.frechet_distance(x, x), 0.0, atol=1e-5)

  def test_grows_with_noise(self):
    x = _gaussian(1000, 32, 0)
    noise = _gaussian(1000, 32, 1)
    fds = [metrics.frechet_distance(x, x + s * noise) for s in (0.1, 0.5, 2.0)]
    self.assertGreater(fds[0], 0.0)
    self.assertLess(fds[0], fds[1])
    self.assertLess(fds[1], fds[2])

  def test_matches_closed_form_for_shared_eigenvectors(self):
    # With S_a = Q diag(u) Q^T and S_b = Q diag(v) Q^T the square-root term
    # is sum sqrt(u v), so FD = |dmu|^2 + sum (sqrt(u) - sqrt(v))^2.
    q, _ = np.linalg.qr(_gaussian(6, 6, 2))
    u, v = np.arange(1.0, 7.0), np.arange(6.0, 0.0, -1.0) ** 2
    mu_a, mu_b = np.zeros(6), np.full(6, 0.5)
    a = _with_moments(mu_a, q @ np.diag(u) @ q.T, 500, 3)
    b = _with_moments(mu_b, q @ np.diag(v) @ q.T, 400, 4)
    expected = 6 * 0.25 + ((np.sqrt(u) - np.sqrt(v)) ** 2).sum()
    self.assertAllClose(metrics.frechet_distance(a, b), expected, rtol=1e-8)

  def test_matches_closed_form_for_non_commuting_2d_covariances(self):
    # For 2x2 M = S_a S_b with positive eigenvalues,
    # Tr M^(1/2) = sqrt(Tr M + 2 sqrt(det M)).
    cov_a = np.array([[2.0, 0.9], [0.9, 1.0]])
    cov_b = np.array([[1.0, -0.3], [-0.3, 3.0]])
    a = _with_moments(np.array([1.0, 0.0]), cov_a, 300, 5)
    b = _with_moments(np.array([0.0, 2.0]), cov_b, 300, 6)
    m = cov_a @ cov_b
    expected = (1.0 + 4.0 + np.trace(cov_a) + np.trace(cov_b)
                - 2.0 * np.sqrt(np.trace(m) + 2.0 * np.sqrt(np.linalg.det(m))))
    self.assertAllClose(metrics.frechet_distance(a, b), expected, rtol=1e-8)


class KernelDistanceTest(tf.test.TestCase):

  def test_two_halves_of_one_set_are_zero_within_the_spread(self):
    # The estimator is unbiased for independent draws, so its mean sits near
    # 0, well inside the spread over subsets (~0.02 here). Keeping the
    # k(x, x) diagonals would add a bias of ~2 * 7 / 100 = 0.14 and fail.
    # Passing the same set twice would not test this: rows drawn into both
    # subsets pull the estimate below 0 (~-0.014 here).
    x = _gaussian(1000, 16, 0)
    mean, std = metrics.kernel_distance(x[:500], x[500:], subsets=50,
                                        subset_size=100)
    self.assertLess(abs(mean), std)

  def test_grows_with_noise(self):
    x = _gaussian(400, 16, 0)
    noise = _gaussian(400, 16, 1)
    kids = [metrics.kernel_distance(x, x + s * noise, subsets=10,
                                    subset_size=200)[0]
            for s in (0.3, 1.0, 3.0)]
    self.assertLess(kids[0], kids[1])
    self.assertLess(kids[1], kids[2])

  def test_same_seed_gives_same_subsets(self):
    x, y = _gaussian(100, 8, 0), _gaussian(100, 8, 1, shift=0.3)
    self.assertEqual(metrics.kernel_distance(x, y, subsets=5, subset_size=50),
                     metrics.kernel_distance(x, y, subsets=5, subset_size=50))


class PrdcTest(tf.test.TestCase):

  def test_set_against_itself_is_perfect(self):
    x = _gaussian(300, 10, 0)
    scores = metrics.prdc(x, x, k=5)
    self.assertEqual(scores["precision"], 1.0)
    self.assertEqual(scores["recall"], 1.0)
    self.assertEqual(scores["coverage"], 1.0)
    # Each real ball strictly holds its own centre and its k - 1 nearer
    # neighbours (the k-th sits on the boundary), so k fakes per ball / k = 1.
    self.assertAllClose(scores["density"], 1.0)

  def test_far_apart_sets_score_zero(self):
    scores = metrics.prdc(_gaussian(200, 10, 0),
                          _gaussian(200, 10, 1, shift=100.0), k=5)
    self.assertEqual(scores, dict(precision=0.0, recall=0.0, density=0.0,
                                  coverage=0.0))

  def test_collapsed_samples_keep_precision_but_lose_recall(self):
    real = _gaussian(300, 4, 0)
    fake = real[:3].repeat(100, axis=0) + 1e-6 * _gaussian(300, 4, 1)
    scores = metrics.prdc(real, fake, k=5)
    self.assertEqual(scores["precision"], 1.0)
    self.assertLess(scores["recall"], 0.1)
    self.assertLess(scores["coverage"], 0.1)


class MemorizationTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    images = rng.random((160, 8, 8, 4)).astype(np.float32)
    images[..., :3] *= images[..., 3:]  # premultiplied
    self.train, self.heldout = images[:100], images[100:]

  def test_copies_of_training_sprites_are_flagged_with_their_index(self):
    index = np.array([5, 0, 99, 42, 42])
    result = metrics.memorization(self.train[index], self.train, self.heldout)
    self.assertEqual(result["near_copy_fraction"], 1.0)
    self.assertAllEqual(result["nearest_index"], index)
    self.assertAllClose(result["nearest_distance"], np.zeros(5), atol=1e-6)
    self.assertGreater(result["heldout_median_distance"], 0.1)

  def test_held_out_sprites_are_flagged_at_most_at_the_quantile(self):
    result = metrics.memorization(self.heldout, self.train, self.heldout,
                                  quantile=0.05)
    self.assertLessEqual(result["near_copy_fraction"], 0.05)
    self.assertEqual(result["sample_median_distance"],
                     result["heldout_median_distance"])

  def test_distance_is_rms_of_composited_colour(self):
    train = np.zeros((2, 4, 4, 4), np.float32)  # transparent: grey canvas
    train[1] = 1.0  # opaque white
    sample = np.concatenate([np.full((1, 4, 4, 3), 0.7, np.float32),
                             np.ones((1, 4, 4, 1), np.float32)], axis=-1)
    result = metrics.memorization(sample, train, train)
    self.assertAllClose(result["nearest_distance"], [0.2])
    self.assertAllClose(result["nearest_ratio"], [0.2 / 0.3])

  def test_a_sample_as_near_to_many_sprites_is_no_copy_however_near(self):
    # A hub: a plain sample nearer to every training sprite than held-out
    # sprites come to theirs, yet equally near to all of them.
    rng = np.random.default_rng(1)
    centre = np.full(16, 0.5)
    train = centre + 0.05 * rng.standard_normal((50, 16))
    heldout = centre + 0.05 * rng.standard_normal((20, 16))
    result = metrics.memorization(centre[None], train, heldout)
    self.assertLess(result["nearest_distance"][0], result["heldout_median_distance"])
    self.assertEqual(result["near_copy_fraction"], 0.0)

  def test_one_training_row_is_an_error(self):
    with self.assertRaisesRegex(ValueError, "at least 2 rows.*got 1"):
      metrics.memorization(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((2, 3)))

  def test_two_nearest_matches_a_full_sort_across_blocks(self):
    rng = np.random.default_rng(2)
    queries, refs = rng.random((9, 5)), rng.random((23, 5))
    first, second, index = metrics.two_nearest(queries, refs, chunk_size=4)
    full = np.sqrt(((queries[:, None] - refs[None]) ** 2).sum(-1))
    self.assertAllClose(first, np.sort(full, 1)[:, 0])
    self.assertAllClose(second, np.sort(full, 1)[:, 1])
    self.assertAllEqual(index, np.argmin(full, 1))

  def test_two_nearest_groups_takes_the_second_from_another_group_across_blocks(self):
    rng = np.random.default_rng(3)
    queries, refs = rng.random((9, 5)), rng.random((23, 5))
    groups = rng.integers(0, 6, 23)
    first, second, index = metrics.two_nearest_groups(queries, refs, groups, chunk_size=4)
    full = np.sqrt(((queries[:, None] - refs[None]) ** 2).sum(-1))
    self.assertAllClose(first, full.min(1))
    self.assertAllEqual(index, np.argmin(full, 1))
    other = np.where(groups[None, :] == groups[index][:, None], np.inf, full)
    self.assertAllClose(second, other.min(1))
    # One group a row: the plain two nearest.
    alone = metrics.two_nearest_groups(queries, refs, np.arange(23))
    for grouped, plain in zip(alone, metrics.two_nearest(queries, refs)):
      self.assertAllClose(grouped, plain)

  def test_a_twin_in_the_same_group_no_longer_hides_a_copy(self):
    # Each training sprite has a twin a hair away (its shiny, another form):
    # a copy of one is about as near the other, a ratio near 1 like a new
    # sprite's, unless the second-nearest is taken from another group.
    train = np.concatenate([self.train, self.train + 1e-3])
    groups = np.tile(np.arange(len(self.train)), 2)
    copies = self.train[:20] + np.random.default_rng(4).normal(0, 0.01, self.train[:20].shape)
    plain = metrics.memorization(copies, train, self.heldout)
    self.assertGreater(plain["nearest_ratio"].min(), 0.9)
    grouped = metrics.memorization(copies, train, self.heldout, train_groups=groups)
    self.assertEqual(grouped["near_copy_fraction"], 1.0)
    self.assertLess(grouped["nearest_ratio"].max(), 0.2)
    self.assertLessEqual(metrics.memorization(
        self.heldout, train, self.heldout, train_groups=groups)["near_copy_fraction"], 0.05)

  def test_groups_must_name_every_training_row(self):
    with self.assertRaisesRegex(ValueError, "groups must name each of the 100 references"):
      metrics.memorization(self.heldout, self.train, self.heldout, train_groups=np.arange(99))

  def test_accepts_feature_rows(self):
    train = _gaussian(50, 16, 0)
    result = metrics.memorization(train[:3] + 1e-9, train,
                                  _gaussian(20, 16, 1))
    self.assertEqual(result["near_copy_fraction"], 1.0)
    self.assertAllEqual(result["nearest_index"], [0, 1, 2])


class ReconstructionTest(tf.test.TestCase):

  def test_psnr_of_identical_images_is_the_cap(self):
    x = np.random.default_rng(0).random((3, 32, 32, 4)).astype(np.float32)
    self.assertAllClose(metrics.psnr(x, x), 100.0)

  def test_psnr_of_known_mse(self):
    a = np.full((2, 32, 32, 3), 0.5, np.float32)
    b = a + np.float32(0.1)  # MSE 0.01
    self.assertAllClose(metrics.psnr(a, b), 10 * np.log10(1 / 0.01),
                        rtol=1e-5)

  def test_ssim_of_identical_images_is_one_at_every_size(self):
    rng = np.random.default_rng(0)
    for size in (8, 32, 64):
      x = rng.random((2, size, size, 4)).astype(np.float32)
      self.assertAllClose(metrics.ssim(x, x), 1.0, atol=1e-6)

  def test_ssim_drops_with_noise(self):
    rng = np.random.default_rng(0)
    x = rng.random((2, 32, 32, 3)).astype(np.float32)
    noisy = np.clip(x + 0.2 * rng.standard_normal(x.shape), 0, 1)
    self.assertLess(metrics.ssim(x, noisy.astype(np.float32)), 0.9)

  def test_mismatched_shapes_are_rejected(self):
    with self.assertRaisesRegex(ValueError, "same shape"):
      metrics.psnr(np.zeros((1, 8, 8, 3)), np.zeros((1, 4, 4, 3)))


class ActiveUnitsTest(tf.test.TestCase):

  def test_collapsed_encoder_has_no_active_units(self):
    self.assertEqual(metrics.active_units(np.full((100, 8), 0.3)), 0)

  def test_counts_units_whose_mean_varies(self):
    means = np.zeros((1000, 8))
    means[:, [1, 4, 6]] = _gaussian(1000, 3, 0)
    means[:, 2] = 0.05 * _gaussian(1000, 1, 1)[:, 0]  # variance 0.0025
    self.assertEqual(metrics.active_units(means), 3)


if __name__ == "__main__":
  tf.test.main()
