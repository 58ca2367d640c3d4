"""`vis predict` on videos of any rate, size and length, with and without sound; its bad inputs."""

from fractions import Fraction

import numpy as np
import pytest

from tests.conftest import clicks, moving_square_frames
from vis.cli import main
from vis.data.io import read_audio, write_wav
from vis.data.media import probe, write_video
from vis.sound.windowed import _join, _windows_of_frames


@pytest.mark.parametrize("fps,size,seconds,audio", [
    (Fraction(60), (100, 60), 2.0, None),  # high rate, odd aspect, silent
    (Fraction(25), (64, 48), 1.0, "stereo"),  # PAL rate, with a stereo track to replace
    (Fraction(24000, 1001), (48, 64), 0.3, None),  # portrait, very short
])
def test_predict_any_video(tiny_run, tmp_path, capsys, fps, size, seconds, audio):
    n = int(seconds * float(fps))
    frames = [f[: size[1], : size[0]] for f in moving_square_frames(n, w=max(size), h=max(size))]
    track = clicks([0.2], seconds, sr=44_100, channels=2) if audio else None
    src = tmp_path / "in.mp4"
    write_video(src, frames, fps=fps, audio=track, sr=44_100 if audio else None)
    out = tmp_path / "out.mp4"
    code = main(["predict", str(src), "--model", str(tiny_run), "-o", str(out), "--wav", str(tmp_path / "o.wav"),
                 "--png", str(tmp_path / "o.png")])
    assert code == 0, capsys.readouterr().err
    info, src_info = probe(out), probe(src)
    assert info.n_frames == src_info.n_frames and (info.width, info.height) == size  # video copied
    assert info.has_audio and info.channels == 1
    wav, sr = read_audio(tmp_path / "o.wav")
    assert abs(len(wav) / sr - n / float(fps)) < 0.05
    assert (tmp_path / "o.png").stat().st_size > 0


def test_parametric_method(tiny_run, tmp_path, tiny_data):
    src = next(tiny_data.glob("*_denoised.mp4"))
    assert main(["predict", str(src), "--model", str(tiny_run), "-o", str(tmp_path / "p.mp4"),
                 "--method", "parametric"]) == 0
    assert probe(tmp_path / "p.mp4").has_audio


def error_line(capsys, argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("vis: error:"), err
    return err


def test_bad_inputs(tiny_run, tmp_path, capsys, tiny_data):
    src = next(tiny_data.glob("*_denoised.mp4"))
    wav = tmp_path / "sound.wav"
    write_wav(wav, clicks([0.1], 0.5), 96_000)
    assert "no video stream" in error_line(capsys, ["predict", wav, "--model", tiny_run, "-o", tmp_path / "a.mp4"])
    audio_only = tmp_path / "audio.mp4"
    import av

    with av.open(str(audio_only), "w") as c:  # an mp4 with only an audio track
        s = c.add_stream("aac", rate=48000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 48000
        for p in list(s.encode(frame)) + list(s.encode()):
            c.mux(p)
    assert "no video stream" in error_line(capsys, ["predict", audio_only, "--model", tiny_run, "-o",
                                                    tmp_path / "a.mp4"])
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    assert "junk.mp4" in error_line(capsys, ["predict", junk, "--model", tiny_run, "-o", tmp_path / "a.mp4"])
    assert "not a vis model" in error_line(capsys, ["predict", src, "--model", tmp_path, "-o", tmp_path / "a.mp4"])
    assert "output folder does not exist" in error_line(
        capsys, ["predict", src, "--model", tiny_run, "-o", tmp_path / "nope" / "a.mp4"])
    assert not list(tmp_path.glob("a.mp4")) and not list(tmp_path.glob(".a.mp4*"))  # nothing half-written


def test_windows_cover_every_frame_once_with_spares():
    for n in (1, 7, 30, 31, 95):
        stream = ((i, np.full((1, 1, 3), i, np.uint8)) for i in range(n))
        seen = []
        for s, m, f in _windows_of_frames(stream, 30, 21):
            v = f[:, 0, 0, 0].astype(int)
            assert len(f) == m + 2 and list(v[1:-1]) == list(range(s, s + m))
            assert v[0] == max(s - 1, 0) and v[-1] == min(s + m, n - 1)
            seen += list(range(s, s + m))
        assert set(seen) == set(range(n))
        # with look-ahead (a lagged model) the extra frames are the real next ones while they exist
        stream = ((i, np.full((1, 1, 3), i, np.uint8)) for i in range(n))
        for s, m, f in _windows_of_frames(stream, 30, 21, ahead=2):
            v = f[:, 0, 0, 0].astype(int)
            assert list(v) == [min(max(i, 0), n - 1) for i in range(s - 1, s + m + 3)]


def test_join_switches_where_predictions_agree():
    a = np.zeros((10, 2))
    b = np.ones((8, 2))
    b[3] = 0  # b agrees with a at its row 3 = overall row 7
    j = _join(a, b, 4)
    assert len(j) == 12 and (j[:7] == 0).all() and (j[8:] == 1).all()


def test_output_that_is_a_folder_or_the_input_is_refused(tiny_run, tmp_path, capsys, tiny_data):
    src = next(tiny_data.glob("*_denoised.mp4"))
    assert "is a folder" in error_line(capsys, ["predict", src, "--model", tiny_run, "-o", tmp_path])
    assert "overwrite the input" in error_line(capsys, ["predict", src, "--model", tiny_run, "-o", src])


def test_video_that_cannot_be_copied_into_mp4(tmp_path):
    import av

    from vis.data.media import mux_audio
    from vis.errors import VisError

    src = tmp_path / "raw.avi"
    with av.open(str(src), "w") as c:
        s = c.add_stream("rawvideo", rate=25)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), i * 40, np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(VisError, match="raw.avi: its rawvideo video cannot be copied"):
        mux_audio(src, np.zeros(4800, np.float32), 48_000, tmp_path / "out.mp4")
    assert not list(tmp_path.glob("*out.mp4*"))


def test_parametric_sound_has_an_impact_at_every_peak():
    """Smooth predicted bumps become sounds whose onsets the recording's detector finds, one per peak."""
    from vis.audio.onsets import onsets_from_audio
    from vis.data.cache import FPS, K, row_times
    from vis.sound.peaks import Prediction, impact_envelope, parametric_wave
    from vis.sound.predict import OUT_SR

    n_frames = 150
    times = row_times(n_frames)
    bumps = [1.0, 2.0, 3.5]
    level = 0.3 + sum(0.05 * np.exp(-0.5 * ((times - c) / 0.06) ** 2) for c in bumps)
    pred = Prediction(np.repeat(level[:, None], 42, axis=1).astype(np.float32), times, n_frames / float(FPS), n_frames)
    shape = np.full((45, 42), 0.05, np.float32)
    shape[22:] = 0.3 * np.exp(-np.arange(23) / 6.0)[:, None] + 0.05  # an impact at row 22 that decays
    assert len(onsets_from_audio(parametric_wave(pred), OUT_SR)[0]) == 0  # the bumps as they are: no onset
    env = impact_envelope(pred, np.array(bumps), shape)
    assert env.shape == pred.env.shape and K == 3
    found, _ = onsets_from_audio(parametric_wave(Prediction(env, times, pred.duration, n_frames)), OUT_SR)
    assert len(found) == 3 and np.allclose(found, bumps, atol=0.05), found


def test_parametric_impacts_follow_their_look_alikes():
    """With the visual memory's priors, each impact decays like its look-alikes and leans to their spectrum."""
    from vis.data.cache import FPS, row_times
    from vis.sound.exemplars import CENTRE_ROW
    from vis.sound.peaks import Prediction, impact_envelope

    n_frames = 90
    times = row_times(n_frames)
    pred = Prediction(np.full((len(times), 42), 0.3, np.float32), times, n_frames / float(FPS), n_frames)
    shape = np.full((45, 42), 0.05, np.float32)
    shape[22:] = 0.3 * np.exp(-np.arange(23) / 6.0)[:, None] + 0.05
    priors = np.repeat(shape[None], 2, axis=0)
    priors[0, 22:] = 0.3 * np.exp(-np.arange(23) / 2.0)[:, None] + 0.05  # rings shorter ...
    priors[1, :, 21:] *= 3.0  # ... brighter (more energy in the upper bands)
    peaks = np.array([0.5, 2.0])
    plain = impact_envelope(pred, peaks, shape)
    seen = impact_envelope(pred, peaks, shape, priors=priors)
    r0, r1 = (int(np.argmin(np.abs(times - t))) for t in peaks)
    assert seen[r0 + 6].mean() < plain[r0 + 6].mean()  # the short ring has decayed further
    assert seen[r1, 21:].sum() / seen[r1].sum() > plain[r1, 21:].sum() / plain[r1].sum()
    np.testing.assert_allclose(np.linalg.norm(seen[r1]), np.linalg.norm(plain[r1]), rtol=1e-4)  # same level
    assert CENTRE_ROW == 22


def test_predict_says_so_when_the_sound_has_no_impact(tiny_run, tmp_path, capsys):
    """A still frame gives a constant prediction: no peak, so no impact; the user is told, not left to find out."""
    frames = [np.full((48, 64, 3), 120, np.uint8)] * 30
    src = tmp_path / "still.mp4"
    write_video(src, frames, fps=Fraction(30))
    assert main(["predict", str(src), "--model", str(tiny_run), "-o", str(tmp_path / "o.mp4"),
                 "--method", "parametric"]) == 0
    out = capsys.readouterr()
    assert "predicted 0 impacts (silent)" in out.out and "no impact" in out.err and str(src) in out.err


def test_threshold_sets_how_faint_an_impact_the_detector_keeps(tiny_run, tmp_path, capsys, tiny_data):
    import dataclasses

    import vis
    from vis.errors import VisError
    from vis.model.onset import OnsetDetector
    from vis.sound.predict import Predictor

    src = next(tiny_data.glob("*_denoised.mp4"))
    fitted = OnsetDetector.from_dict(Predictor.load(tiny_run).ck["onsets"]).threshold
    found = {}
    for thr in (None, 0.001, 0.999):
        extra = [] if thr is None else ["--threshold", str(thr)]
        assert main(["predict", str(src), "--model", str(tiny_run), "-o", str(tmp_path / "o.mp4"), *extra]) == 0
        found[thr] = int(capsys.readouterr().out.split("predicted ")[1].split()[0])
    assert found[0.001] >= found[None] >= found[0.999]  # a lower threshold keeps every impact a higher one keeps
    assert found[0.999] <= 1 < found[0.001]  # at most the fallback's most probable peak
    model = vis.load_model(tiny_run, device="cpu")
    assert len(model.predict(src, threshold=0.001).impacts) == found[0.001]
    assert model.predictor.onsets is not None and model.predictor.onsets.threshold == fitted  # left as fitted
    for bad in ("0", "1.5", "-0.5", "nan", "inf"):
        err = error_line(capsys, ["predict", src, "--model", tiny_run, "-o", tmp_path / "b.mp4", "--threshold", bad])
        assert "--threshold" in err and "at most 1" in err
    peaks_only = dataclasses.replace(Predictor.load(tiny_run), onsets=None)  # as a detection-task run
    with pytest.raises(VisError, match="no impact detector"):
        peaks_only.at_threshold(0.5)
    assert peaks_only.at_threshold(None) is peaks_only


def test_a_15_fps_video_is_read_by_the_low_rate_detector(tiny_run, tmp_path, tiny_data, monkeypatch):
    import vis.sound.predict as P
    from vis.data.media import read_frames, write_video
    from vis.sound.predict import Predictor, predict_video

    used = []
    detect = P.detected_prediction
    monkeypatch.setattr(P, "detected_prediction", lambda net, pca, det, *a, **k: used.append(det) or detect(
        net, pca, det, *a, **k))

    model = Predictor.load(tiny_run)
    assert model.onsets is not None and model.onsets.low_rate is not None  # the default recipe trains both
    src = next(tiny_data.glob("*_denoised.mp4"))
    frames, _ = read_frames(src)
    write_video(tmp_path / "slow.mp4", list(frames[::2]), fps=15)
    slow = predict_video(tmp_path / "slow.mp4", model, tmp_path / "s.mp4", method="parametric", progress=False)
    full = predict_video(src, model, tmp_path / "f.mp4", method="parametric", progress=False)
    assert slow["low_rate"] and slow["threshold"] == model.onsets.low_rate.threshold
    assert not full["low_rate"] and full["threshold"] == model.onsets.threshold
    assert used == [model.onsets.low_rate, model.onsets]  # the detector that found the impacts


def test_output_extensions_are_honoured_or_refused_before_work(tiny_run, tmp_path, capsys, tiny_data):
    import soundfile as sf

    src = next(tiny_data.glob("*_denoised.mp4"))
    for args, bad in ((["-o", str(tmp_path / "x.avi")], "x.avi"),
                      (["-o", str(tmp_path / "y.mp4"), "--wav", str(tmp_path / "y.mp3")], "y.mp3")):
        assert main(["predict", str(src), "--model", str(tiny_run), "--method", "parametric", *args]) == 2
        err = capsys.readouterr().err
        assert bad in err and (".mkv" in err or ".flac" in err) and "Traceback" not in err
        assert not list(tmp_path.iterdir())  # nothing written, not even the video
    out, snd = tmp_path / "z.mkv", tmp_path / "z.flac"
    assert main(["predict", str(src), "--model", str(tiny_run), "--method", "parametric", "-o", str(out),
                 "--wav", str(snd)]) == 0
    import av

    with av.open(str(out)) as c:
        assert "matroska" in c.format.name and c.streams.video and c.streams.audio
    assert sf.info(str(snd)).format == "FLAC"


def test_one_prediction_makes_both_methods_sound_as_two_runs_would(tiny_run, tmp_path, tiny_data):
    from vis.sound.predict import Predictor, predict_sounds, predict_video

    src = next(tiny_data.glob("*_denoised.mp4"))
    outputs = {m: (tmp_path / f"both-{m}.mp4", tmp_path / f"both-{m}.wav") for m in ("example", "parametric")}
    both = predict_sounds(src, Predictor.load(tiny_run), outputs, progress=False)
    for method in outputs:
        alone = predict_video(src, tiny_run, tmp_path / f"{method}.mp4", method=method, wav=tmp_path / f"{method}.wav",
                              progress=False)
        assert both[method]["peaks"] == alone["peaks"]
        a, _ = read_audio(tmp_path / f"{method}.wav")
        b, _ = read_audio(outputs[method][1])
        np.testing.assert_array_equal(a, b)
