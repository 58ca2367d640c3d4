"""Media I/O: decoding at other sizes and rates, audio of any rate and channel count, muxing."""

from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile as sf

from tests.conftest import moving_square_frames
from vis.data.io import NTSC_FPS, atomic_output, read_audio, write_wav
from vis.data.media import mux_audio, probe, read_frames, write_video
from vis.errors import VisError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "clip.mp4"
    write_video(path, moving_square_frames(60), audio=np.zeros(48_000, np.float32), sr=48_000)
    return path


def test_probe_reports_stream_facts(clip):
    info = probe(clip)
    assert info.has_video and info.has_audio
    assert info.fps == NTSC_FPS and (info.width, info.height) == (64, 48)
    assert info.n_frames == 60 and info.sample_rate == 48_000 and info.channels == 1
    assert info.duration == pytest.approx(60 / float(NTSC_FPS), abs=0.05)


def test_read_native_frames_in_order(clip):
    frames, times = read_frames(clip)
    assert frames.shape == (60, 48, 64, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(times, np.arange(60) / float(NTSC_FPS), atol=1e-6)
    # channel 0 encodes 4 * index (lossy codec: allow a few levels)
    np.testing.assert_allclose(frames[:, 30, 5, 0].astype(float), 4 * np.arange(60), atol=6)


@pytest.mark.parametrize("fps", [10.0, 15.0, 29.97, 60.0, Fraction(24000, 1001)])
def test_nearest_frame_resampling(clip, fps):
    frames, times = read_frames(clip, fps=fps)
    native = np.arange(60) / float(NTSC_FPS)
    np.testing.assert_allclose(times, np.arange(len(times)) / float(fps), atol=1e-9)
    assert times[-1] < native[-1] + 0.5 / float(NTSC_FPS) + 1e-9
    expected = np.abs(native[None, :] - times[:, None]).argmin(axis=1)
    np.testing.assert_allclose(frames[:, 30, 5, 0].astype(float), 4 * expected, atol=6)


def test_resize_and_window(clip):
    frames, times = read_frames(clip, size=(32, 20), fps=NTSC_FPS, start=0.5, end=1.0)
    assert frames.shape[1:] == (20, 32, 3)
    assert times[0] >= 0.5 and times[-1] < 1.0
    assert len(frames) == pytest.approx(0.5 * float(NTSC_FPS), abs=1)


@pytest.mark.parametrize("fps", [NTSC_FPS, 12.0])
def test_only_some_frames_are_the_same_frames(clip, fps):
    from vis.data.media import iter_frames

    frames, _ = read_frames(clip, size=(32, 20), fps=fps)
    want = {0, 3, 4, len(frames) - 1}
    got = dict((round(t * float(fps)), f) for t, f in iter_frames(clip, size=(32, 20), fps=fps, only=want))
    assert set(got) == want
    for k, f in got.items():
        np.testing.assert_array_equal(f, frames[k])
    assert list(iter_frames(clip, fps=fps, only=set())) == []


@pytest.mark.parametrize("sr,channels", [(96_000, 1), (44_100, 2), (22_050, 6), (8_000, 1)])
def test_wav_round_trip_any_rate_and_channels(tmp_path, sr, channels):
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((sr // 4, channels))).clip(-1, 1).astype(np.float32)
    write_wav(tmp_path / "a.wav", x, sr)
    y, sr2 = read_audio(tmp_path / "a.wav")
    assert sr2 == sr and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1 / 32000)
    assert read_audio(tmp_path / "a.wav", mono=True)[0].shape == (sr // 4,)


def test_mux_copies_video_and_replaces_audio(clip, tmp_path):
    sr = 96_000
    t = np.arange(sr) / sr
    tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = tmp_path / "muxed.mp4"
    mux_audio(clip, np.stack([tone, tone], 1), sr, out)
    info = probe(out)
    assert info.sample_rate == sr and info.channels == 2 and info.n_frames == 60
    # video packets are copied byte for byte
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        pa = [bytes(p) for p in a.demux(a.streams.video[0]) if p.size]
        pb = [bytes(p) for p in b.demux(b.streams.video[0]) if p.size]
    assert pa == pb
    y, _ = read_audio(out)
    spec = np.abs(np.fft.rfft(y[: sr // 2, 0]))
    assert abs(np.argmax(spec) * 2 - 440) <= 2


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "x.wav"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_missing_output_folder_is_an_error(tmp_path):
    with pytest.raises(VisError, match="output folder does not exist"):
        write_wav(tmp_path / "nope" / "a.wav", np.zeros(10), 8000)


def test_bad_media_errors_name_the_file(tmp_path, clip):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(VisError, match="corrupt.mp4"):
        read_frames(bad)
    trunc = tmp_path / "trunc.mp4"
    trunc.write_bytes(clip.read_bytes()[:3000])
    with pytest.raises(VisError, match="trunc.mp4"):
        read_frames(trunc)
    wav = tmp_path / "bad.wav"
    wav.write_bytes(b"RIFF\x00\x00")
    with pytest.raises(VisError, match="bad.wav"):
        read_audio(wav)
    sf.write(str(tmp_path / "empty.wav"), np.zeros((0, 1)), 8000)
    with pytest.raises(VisError, match="no samples"):
        read_audio(tmp_path / "empty.wav")
    silent = tmp_path / "silent.mp4"
    write_video(silent, moving_square_frames(4))
    with pytest.raises(VisError, match="no audio stream"):
        read_audio(silent)


def _late_picture(path, *, picture_starts: float, click: float, sr: int = 48_000) -> None:
    """A recording whose first frame comes ``picture_starts`` s after its first audio sample (a camera or a
    trimmed copy): black frames, and a click at ``click`` s on the audio's own clock."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        a = c.add_stream("aac", rate=sr)
        a.layout = "mono"
        for j in range(90):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = j + round(picture_starts * 30), Fraction(1, 30)
            for packet in v.encode(frame):
                c.mux(packet)
        for packet in v.encode():
            c.mux(packet)
        wave = np.zeros((1, 4 * sr), np.float32)
        wave[0, int(click * sr) : int(click * sr) + 300] = 0.9
        frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = sr, 0, Fraction(1, sr)
        for packet in [*a.encode(frame), *a.encode()]:
            c.mux(packet)


def test_a_videos_own_sound_is_read_on_its_frames_clock_and_muxed_sound_starts_with_the_picture(tmp_path):
    _late_picture(tmp_path / "late.mp4", picture_starts=0.5, click=1.5)  # the click 1.0 s after the first frame
    audio, sr = read_audio(tmp_path / "late.mp4", mono=True)
    assert np.argmax(np.abs(audio)) / sr == pytest.approx(1.0, abs=0.005)
    click = np.zeros(3 * sr, np.float32)
    click[sr : sr + 300] = 0.9  # 1.0 s after the first frame, as vis predict times its impacts
    mux_audio(tmp_path / "late.mp4", click, sr, tmp_path / "out.mp4")
    back, sr_back = read_audio(tmp_path / "out.mp4", mono=True)
    assert np.argmax(np.abs(back)) / sr_back == pytest.approx(1.0, abs=0.005)
    with av.open(str(tmp_path / "out.mp4")) as c:  # on the file's clock, the sound begins with the picture
        video, sound = c.streams.video[0], c.streams.audio[0]
        assert float(sound.start_time * sound.time_base) == pytest.approx(float(video.start_time * video.time_base),
                                                                          abs=0.03)  # AAC's priming: 1024 samples
