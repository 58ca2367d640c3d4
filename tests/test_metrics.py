"""Metrics on constructed cases with known answers."""

import numpy as np
import pytest

from vis.eval.metrics import (
    average_precision,
    centroid,
    class_averaged_accuracy,
    confusion_matrix,
    contrast,
    error_and_r,
    fit_linear_classifier,
    loudness,
    onset_metrics,
    similarity_order,
    sq_err,
)

TRUE = np.array([1.0, 2.0, 3.0, 4.0])


def test_ap_perfect_and_shifted():
    s = np.ones(4)
    assert average_precision(TRUE, s, TRUE) == 1.0
    assert average_precision(TRUE + 0.05, s, TRUE) == 1.0  # within 0.1 s
    assert average_precision(TRUE + 0.2, s, TRUE) == 0.0  # outside


def test_ap_missing_detections_count_against_recall():
    assert average_precision(TRUE[:2], np.ones(2), TRUE) == pytest.approx(0.5)
    assert average_precision([], [], TRUE) == 0.0
    assert np.isnan(average_precision(TRUE, np.ones(4), []))


def test_ap_extra_detections_depend_on_their_scores():
    pred = np.concatenate([TRUE, [1.5, 2.5]])
    low = np.array([1, 1, 1, 1, 0.1, 0.1])
    high = np.array([0.5, 0.5, 0.5, 0.5, 1, 1])
    assert average_precision(pred, low, TRUE) == 1.0
    # two false alarms ranked first: precisions at the hits are 1/3, 2/4, 3/5, 4/6
    assert average_precision(pred, high, TRUE) == pytest.approx(np.mean([1 / 3, 2 / 4, 3 / 5, 4 / 6]))


def test_each_ground_truth_matched_once():
    pred = np.array([1.0, 1.01, 1.02])
    assert average_precision(pred, np.ones(3), [1.0]) == 1.0
    assert onset_metrics(pred, np.ones(3), [1.0], duration=5)["onset_acc"] == 1.0
    # two ground truths close together need two predictions
    assert average_precision([1.0], [1.0], [0.98, 1.05]) == pytest.approx(0.5)


def test_onset_metrics_per_clip_and_missed_ground_truth_after_predictions_run_out():
    pred, s = np.array([0.5]), np.array([1.0])
    truth = np.array([0.5, 1.2, 1.6])  # the prediction finds the first; two more are missed
    m = onset_metrics(pred, s, truth, duration=2.0)
    assert m["onset_acc"] == pytest.approx(1 / 3) and m["onset_ap"] == pytest.approx(1 / 3)
    per_clip = onset_metrics(pred, s, truth, duration=2.0, clip_s=1.0)
    assert per_clip["clips"] == 2 and per_clip["onset_acc"] == pytest.approx(0.5)


def test_loudness_and_centroid():
    env = np.zeros((45, 42))
    env[22, 10] = 3.0
    env[22, 20] = 4.0
    assert loudness(env) == pytest.approx(5.0)
    assert centroid(env) == pytest.approx((10 * 3 + 20 * 4) / 7)


def test_perfect_predictor_r_one_and_zero_error():
    x = np.random.default_rng(0).random(50)
    assert error_and_r(x, x) == (0.0, pytest.approx(1.0))
    assert error_and_r(x, 2 * x + 1)[1] == pytest.approx(1.0)


def test_class_accuracy_confusion_and_order():
    y = ["a", "a", "b", "b", "c", "c"]
    p = ["a", "b", "b", "b", "a", "c"]
    assert class_averaged_accuracy(y, p, ["a", "b", "c"]) == pytest.approx((0.5 + 1 + 0.5) / 3)
    m = confusion_matrix(y, p, ["a", "b", "c"])
    np.testing.assert_allclose(m.sum(1), 1) and np.testing.assert_allclose(np.diag(m), [0.5, 1, 0.5])
    soft = np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.1, 0.2, 0.7]])
    assert similarity_order(soft) == [0, 2, 1]


def test_linear_classifier_separates_separable_classes():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (30, 5)), rng.normal(4, 1, (90, 5))])
    y = np.array(["soft"] * 30 + ["hard"] * 90)
    clf = fit_linear_classifier(x, y)
    assert class_averaged_accuracy(y, clf.predict(x), ["hard", "soft"]) > 0.95


def test_sq_err_zero_for_identical_and_known_value():
    x = np.random.default_rng(0).random((5, 45, 42))
    assert sq_err(x, x) == 0.0
    pred, true = np.zeros((1, 2, 42)), np.zeros((1, 2, 42))
    pred[0, 0, 3] = 4.0  # sqrt: 2 in one band of one of the two rows -> row errors 4 and 0
    assert sq_err(pred, true) == pytest.approx(2.0)
    assert sq_err(np.ones((3, 42)), np.zeros((3, 42))) == pytest.approx(42.0)  # summed over the bands
    assert sq_err(-np.ones((3, 42)), np.zeros((3, 42))) == 0.0  # negative envelopes count as 0
    assert sq_err(np.ones(42), np.ones((4, 45, 42))) == 0.0  # one row broadcast to every row


def test_contrast_of_a_centred_peak_and_of_a_flat_window():
    env = np.zeros((2, 45, 42))
    env[0, 22, 5] = 3.0  # one of the three centre rows: mean norm 1
    env[1] += 0.5  # flat
    c = contrast(env)
    assert c.shape == (2,) and c[0] == pytest.approx(1.0) and c[1] == pytest.approx(0.0)
    env[0, :3, 5] = 3.0  # as loud at the start as at the centre peak's row
    assert contrast(env)[0] == pytest.approx(1.0 - 3.0)


def test_precision_recall_counts_one_to_one_matches():
    from vis.eval.metrics import precision_recall

    true = np.array([1.0, 2.0, 3.0, 4.0])
    r = precision_recall([1.05, 1.06, 2.95, 6.0], true)  # two predictions near 1.0: only one may match
    assert (r["tp"], r["pred"], r["true"]) == (2, 4, 4)
    assert r["precision"] == 0.5 and r["recall"] == 0.5 and r["f1"] == 0.5
    assert precision_recall(true, true)["f1"] == 1.0
    empty = precision_recall([], true)
    assert empty["recall"] == 0.0 and empty["precision"] != empty["precision"]  # NaN: nothing predicted


def test_best_threshold_keeps_the_confident_true_detections():
    from vis.eval.metrics import best_threshold

    true = [np.array([1.0, 2.0, 3.0]), np.array([0.5])]
    pred = [np.array([1.02, 2.05, 3.0, 5.0, 6.0]), np.array([0.5, 3.0])]
    scores = [np.array([3.0, 2.5, 2.0, 1.0, 0.5]), np.array([4.0, 1.5])]  # the misses score lowest
    th, f1 = best_threshold(pred, scores, true)
    assert th == 2.0 and f1 == 1.0
    th, f1 = best_threshold([np.zeros(0)], [np.zeros(0)], [np.array([1.0])])
    assert th == float("inf") and f1 == 0.0


def test_smoothed_threshold_lands_in_the_plateau_not_on_a_spike_at_its_edge():
    """F1 over thresholds: 0.561 across (1, 9] dB, a 0.2-dB spike of 0.571 at (18.8, 19], 0 above 19."""
    from vis.eval.metrics import best_threshold

    true = np.arange(1.0, 101.0)  # 100 onsets, 1 s apart
    groups = [(1.0, 0, 5), (9.0, 10, 21), (18.8, 5, 20), (19.0, 40, 0)]  # (score, true hits, false alarms)
    times, scores, hit, false = [], [], 0, 200.0
    for score, n_hit, n_false in groups:
        times += list(true[hit : hit + n_hit]) + list(false + np.arange(n_false))
        scores += [score] * (n_hit + n_false)
        hit, false = hit + n_hit, false + n_false + 10
    pred, sc = [np.array(times)], [np.array(scores)]
    th, f1 = best_threshold(pred, sc, [true])
    assert th == 19.0 and f1 == pytest.approx(80 / 140)  # the plain argmax: the spike at the edge
    th, f1 = best_threshold(pred, sc, [true], smooth=3.0)
    assert 1.0 < th <= 9.0 and f1 == pytest.approx(110 / 196)  # smoothed: inside the broad plateau
