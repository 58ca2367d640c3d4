"""The sound world: what each contact sounds like, then the room and the microphone.

Every region of a scene is an acoustic object (:class:`Voice`) drawn once per video: a hard one is a
bank of damped modes (modal synthesis), a soft one a band of noise with a dull body thump, loose ones
(gravel, dirt, leaves, a plastic bag) burst into micro-impacts, water bubbles. A hit excites the object
with a contact-force pulse whose duration follows Hertz contact (shorter, so brighter, when the stick
moves faster: ``tau ~ v^-1/5``) and whose strength grows with speed; a scratch is friction noise shaped
by the object that follows the drag speed, after a soft landing transient. Reactions are heard too:
a rocking object knocks again, thrown pieces click where they land, splashes bubble.

Every event's sound starts at its contact time (sample ``round(time * SR)``) with an attack shorter than
a few milliseconds, so onsets lie within 10 ms of the annotations. Tracks: ``denoised`` is the clean
mix with a faint room tone and a little reverberation (mono); ``mic`` is stereo with more room,
noise and hum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from vis.synth import motion as mo
from vis.synth.knobs import Difficulty
from vis.synth.materials import PROPERTIES
from vis.synth.schedule import Contact

SR = 96_000  # Hz, like the real recordings
MAX_RING_S = 1.5  # modes are cut (with a fade) after this long
REF_PEAK = 0.25  # peak of a reference-speed hit on the loudest material, before the video's gain
REF_DRAG_PX_S = 250.0  # a typical drag speed (px/s at 256 px high) for friction loudness
# How loud a strike is follows what a camera sees, as in real recordings: the stick's speed (peak ~ v^1.6,
# the speed drawn by vis.synth.motion) and the material. What no camera sees is kept small: a recorder
# gain per video, a level per object, a jitter per hit (log standard deviations). With these,
# benchmarks/visibility.py finds that material + visible tip speed explain most of the log loudness.
SPEED_EXPONENT = 1.6
RECORDER_GAIN_SD = 0.12  # was 0.25: it alone hid a quarter of the loudness variance from vision
LEVEL_SD_DB = 1.0  # per object, times sound_variation
HIT_JITTER_SD = 0.08


@dataclass(frozen=True)
class Voice:
    """The acoustic object behind one region."""

    material: str
    kind: str
    freqs: np.ndarray  # Hz: modes (modal) or grain frequency range [lo, hi] (others)
    loss: np.ndarray  # loss factor per mode (modal) or [decay_s] (others)
    amps: np.ndarray  # relative mode amplitudes (modal)
    contact_ms: float
    level: float  # linear peak of a reference hit
    thump_hz: float
    band: tuple[float, float]  # noise band (Hz) for bursts and friction
    grains: int


def voices(rng: np.random.Generator, regions, knobs: Difficulty) -> list[Voice]:
    """One :class:`Voice` per scene region; ``sound_variation`` spreads objects of one material apart."""
    sv = knobs.sound_variation
    out = []
    for reg in regions:
        s = PROPERTIES[reg.material].sound
        size = reg.size  # bigger object: lower modes (f ~ 1 / size for plates of fixed thickness)
        detune = float(np.exp(rng.normal(0.0, 0.2 * sv)))  # thickness, shape: unexplained by the picture
        damp = float(np.exp(rng.normal(0.0, 0.35 * sv)))  # mounting: held, lying, glued
        lo, hi = s.band
        scale = detune / size**0.8
        if s.kind == "modal":
            n = max(3, int(round(s.modes * np.exp(rng.normal(0.0, 0.25 * sv)))))
            freqs = np.sort(np.exp(rng.uniform(np.log(lo), np.log(hi), n))) * scale
            freqs = np.clip(freqs, 40.0, 0.45 * SR)
            loss = np.exp(rng.uniform(np.log(s.loss[0]), np.log(s.loss[1]), n)) * damp
            tilt = rng.uniform(0.3, 1.0)
            amps = np.exp(rng.normal(0.0, 0.6, n)) * (freqs / freqs[0]) ** -tilt
        else:
            freqs = np.array([lo, hi]) * scale
            loss = np.array([np.exp(rng.uniform(np.log(s.loss[0]), np.log(s.loss[1]))) * damp])
            amps = np.ones(1)
        band = (float(np.clip(lo * scale, 30, 20_000)), float(np.clip(hi * scale, 200, 30_000)))
        level = 10 ** ((s.level_db + rng.normal(0.0, LEVEL_SD_DB * sv)) / 20.0) * REF_PEAK
        grains = max(2, int(round(s.modes * np.exp(rng.normal(0.0, 0.3 * sv)))))
        out.append(Voice(reg.material, s.kind, freqs, loss, amps, s.contact_ms * float(np.exp(rng.normal(0, 0.2 * sv))),
                         level, s.thump_hz / size**0.5 * detune, band, grains))
    return out


# ---------------------------------------------------------------------------------------------- pieces


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


def _pulse_gain(f: np.ndarray, tau: float) -> np.ndarray:
    """Magnitude spectrum of a half-sine force pulse of duration ``tau`` s (normalised to 1 at 0 Hz)."""
    x = 2.0 * f * tau
    near = np.abs(1.0 - x * x) < 1e-6
    g = np.abs(np.cos(np.pi * f * tau)) / np.where(near, 1.0, np.abs(1.0 - x * x))
    return np.where(near, np.pi / 4, g)


def _modes(freqs, loss, weights, seconds: float | None = None) -> np.ndarray:
    """Sum of damped sines ``w sin(2 pi f t) exp(-pi f eta t)``, each as long as it rings (<= MAX_RING_S)."""
    decay = np.pi * freqs * loss
    ring = np.minimum(7.0 / decay, MAX_RING_S if seconds is None else seconds)
    n = int(ring.max() * SR) + 1
    out = np.zeros(n, np.float64)
    for f, d, w, r in zip(freqs, decay, weights, ring):
        m = int(r * SR)
        t = np.arange(m) / SR
        out[:m] += w * np.sin(2 * np.pi * f * t) * np.exp(-d * t)
    fade = min(n, int(0.05 * SR))
    out[n - fade :] *= np.linspace(1.0, 0.0, fade)
    return out


def _noise_burst(rng, band, decay_s: float, attack_s: float = 0.001) -> np.ndarray:
    """Band-passed noise with a ``attack_s`` rise and exponential decay ``decay_s``."""
    t = _t(min(6.0 * decay_s + attack_s, 1.0))
    lo, hi = band
    sos = signal.butter(2, [max(lo, 20.0), min(hi, 0.45 * SR)], "bandpass", fs=SR, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(len(t)))
    env = np.minimum(t / attack_s, 1.0) * np.exp(-t / decay_s)
    return x * env


def _thump(freq: float, decay_s: float) -> np.ndarray:
    t = _t(6.0 * decay_s)
    return np.sin(2 * np.pi * freq * t) * np.exp(-t / decay_s) * np.minimum(t / 0.0015, 1.0)


def _grain(rng, band, kind: str) -> np.ndarray:
    """One micro-impact: a tiny ping (pebble), a crackle (leaf) or a crinkle (bag), a few ms long."""
    f = float(np.exp(rng.uniform(np.log(band[0]), np.log(band[1]))))
    d = rng.uniform(0.0015, 0.004) if kind == "gravel" else rng.uniform(0.0005, 0.002)
    t = _t(5 * d)
    if kind == "gravel":
        return np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) * np.exp(-t / d)
    return rng.standard_normal(len(t)) * np.exp(-t / d) * np.sin(2 * np.pi * f * t) ** 2


def _bubble(rng, radius_mm: float) -> np.ndarray:
    """A bubble: Minnaert frequency ``3.26 / r`` (r in m), rising chirp, van den Doel damping."""
    f0 = 3.26 / (radius_mm * 1e-3)
    d = 0.13 * f0 + 0.0072 * f0**1.5
    t = _t(min(6.0 / d, 0.3))
    rise = rng.uniform(0.05, 0.15) * d  # fractional frequency rise per second ~ xi * d
    phase = 2 * np.pi * f0 * (t + 0.5 * rise * t * t)
    return np.sin(phase) * np.exp(-d * t)


def _add(out: np.ndarray, x: np.ndarray, at: int, gain: float = 1.0) -> None:
    if at >= len(out) or at + len(x) <= 0:
        return
    lo = max(0, -at)
    m = min(len(x), len(out) - at)
    out[at + lo : at + m] += gain * x[lo:m]


def _peak_to(x: np.ndarray, peak: float) -> np.ndarray:
    return x * (peak / (np.abs(x).max() + 1e-12))


# ---------------------------------------------------------------------------------------------- events


def _hit(v: Voice, c: Contact, rng, speed: float) -> np.ndarray:
    """The sound of one strike at ``speed`` (relative), starting at sample 0, peak set by speed."""
    soft = c.reaction == "deformation"
    tau = v.contact_ms * 1e-3 * speed**-0.2 * (2.5 if soft else 1.0) * np.exp(rng.normal(0, 0.1))
    peak = v.level * speed**SPEED_EXPONENT * np.exp(rng.normal(0.0, HIT_JITTER_SD))
    kind = v.kind
    if kind == "modal":
        w = v.amps * np.exp(rng.normal(0.0, 0.4, len(v.amps))) * _pulse_gain(v.freqs, tau)
        x = _modes(v.freqs * np.exp(rng.normal(0, 0.005)), v.loss * (2.0 if soft else 1.0), w)
        click = _noise_burst(rng, (2000.0, 12000.0), 0.0008, 0.0002)
        x = _peak_to(x, 1.0)
        _add(x, click, 0, 0.25 * min(1.0, 0.5 / (tau * 1e3)))
        if v.thump_hz:
            _add(x, _thump(v.thump_hz, 0.02), 0, 0.3)
    elif kind == "noise":
        x = _noise_burst(rng, v.band, v.loss[0] * np.exp(rng.normal(0, 0.15)))
        x = _peak_to(x, 1.0)
        if v.thump_hz:
            _add(x, _thump(v.thump_hz * np.exp(rng.normal(0, 0.1)), 0.025), 0, 0.6)
        if v.material in ("paper", "grass"):
            for _ in range(int(rng.integers(3, 10))):  # crackle of fibres or blades
                _add(x, _grain(rng, v.band, "leaf"), int(rng.exponential(v.loss[0]) * SR), rng.uniform(0.2, 0.6))
    elif kind == "granular":
        decay = v.loss[0]
        x = np.zeros(int(min(6 * decay + 0.02, 1.2) * SR))
        if v.material == "dirt":
            _add(x, _peak_to(_noise_burst(rng, (60.0, 700.0), 0.02), 1.0), 0)
        kind_ = "gravel" if v.material == "gravel" else "leaf"
        # The strike crushes a cluster of pieces at once (the first ~12 ms, the stick's contact): the
        # attack a listener and an annotator hear. A single first grain (~1 ms) would leave the hit
        # 15-25 dB quieter than a hard material's within one 11 ms cochleagram row.
        _add(x, _peak_to(_noise_burst(rng, v.band, 0.004, 0.0005), 1.0), 0, 0.5)
        for tk in np.sort(rng.uniform(0.0, 0.012, max(3, v.grains // 2))):
            _add(x, _peak_to(_grain(rng, v.band, kind_), 1.0), int(tk * SR), rng.uniform(0.5, 1.0))
        n = max(2, int(v.grains * speed**0.7))  # then pieces settling, sparser and quieter
        for tk in rng.exponential(decay, n):
            g = _peak_to(_grain(rng, v.band, kind_), 1.0)
            _add(x, g, int(tk * SR), rng.uniform(0.15, 0.8) * np.exp(-tk / decay))
    else:  # water: the stick's slap, then bubbles
        x = np.zeros(int(0.4 * SR))
        _add(x, _peak_to(_noise_burst(rng, v.band, 0.012), 1.0), 0)
        for _ in range(int(rng.integers(3, 8) * speed**0.5) + 1):
            _add(x, _bubble(rng, float(np.exp(rng.uniform(np.log(0.6), np.log(4.0))))),
                 int(rng.uniform(0.003, 0.12) * SR), rng.uniform(0.3, 0.9))
    return _peak_to(x, peak)


def _scratch(v: Voice, c: Contact, rng, px: float) -> np.ndarray:
    """Landing transient, then friction noise that follows the drag speed and the surface."""
    d = c.end - c.time
    t = _t(d)
    speed = mo.drag_speed(c, c.time + t) / (REF_DRAG_PX_S * px)
    amp = np.clip(speed, 0, 3) ** 0.8
    noise = rng.standard_normal(len(t))
    if v.kind == "modal":  # friction excites the object's modes
        ir = _modes(v.freqs, v.loss * 3.0, v.amps * _pulse_gain(v.freqs, v.contact_ms * 2e-3), 0.08)
        fr = signal.oaconvolve(noise * amp, ir)[: len(t)]
        fr = _peak_to(fr, 1.0) + 0.3 * _peak_to(signal.sosfilt(_HP, noise) * amp, 1.0)
    elif v.kind == "granular":  # micro-impacts at a rate that follows the speed
        fr = np.zeros(len(t))
        rate = 60.0 * v.grains / 20.0
        n = rng.poisson(rate * d * max(float(amp.mean()), 0.05))
        for tk in rng.uniform(0, d, n):
            _add(fr, _peak_to(_grain(rng, v.band, "gravel" if v.material == "gravel" else "leaf"), 1.0),
                 int(tk * SR), float(np.interp(tk, t, amp)) * rng.uniform(0.2, 1.0))
        fr += 0.5 * signal.sosfilt(_band(v.band), noise) * amp  # and a hiss of sliding pieces
    else:  # soft surfaces and water: band-limited swish
        fr = signal.sosfilt(_band(v.band), noise) * amp
    rough = 1.0 + 0.5 * signal.sosfilt(_LP30, rng.standard_normal(len(t))) * 8.0  # uneven surface
    fr = _peak_to(fr * np.clip(rough, 0.2, 2.0), 1.0)
    x = np.zeros(len(t) + int(0.3 * SR))
    x[: len(t)] += 0.6 * fr
    land = _hit(v, c, rng, 0.5 * c.speed)
    _add(x, _peak_to(land, 1.0), 0)
    return _peak_to(x, v.level * c.speed**0.8 * 0.7)


_HP = signal.butter(2, 3000.0, "highpass", fs=SR, output="sos")
_LP30 = signal.butter(2, 30.0, "lowpass", fs=SR, output="sos")


def _band(band) -> np.ndarray:
    return signal.butter(2, [max(band[0], 20.0), min(band[1], 0.45 * SR)], "bandpass", fs=SR, output="sos")


def event_sounds(voices_: list[Voice], contacts: list[Contact], px: float = 1.0) -> list[tuple[int, np.ndarray]]:
    """Dry sound of each contact as ``(start_sample, samples)``: the contact starts at ``start_sample``.

    ``px``: frame height / 256, the scale of the contacts' pixel coordinates (drag speeds).
    """
    out = []
    for c in contacts:
        v = voices_[c.region]
        rng = np.random.default_rng([c.seed, 0])
        x = _hit(v, c, rng, c.speed) if c.action == "hit" else _scratch(v, c, rng, px)
        x = np.concatenate([x, np.zeros(int(0.4 * SR))]) if c.reaction in ("rigid-motion", "scatter") else x
        if c.reaction in ("rigid-motion", "other"):  # the object rocks and knocks again
            wb = mo.wobble(c)
            for tk in wb.rattles():
                _add(x, _hit(v, c, rng, 0.35 * c.speed), int(tk * SR), float(np.exp(-tk / wb.tau)))
        elif c.reaction == "scatter":  # thrown pieces click where they land
            p = mo.particles(c, "scatter")
            gv = Voice(v.material, "granular", v.freqs, v.loss, v.amps, v.contact_ms, v.level, 0.0,
                       (1500.0, 7000.0), 1)
            for tk, r in zip(p.flight, p.radius):
                g = _peak_to(_grain(rng, gv.band, "gravel"), v.level * 0.25 * r / 2.0)
                _add(x, g, int((c.end - c.time + tk) * SR))
        out.append((int(round(c.time * SR)), x.astype(np.float32)))
    return out


# ---------------------------------------------------------------------------------------------- tracks


def _pinkish(rng, n: int) -> np.ndarray:
    """Room tone: low-passed (-6 dB/oct above 150 Hz) plus a little white noise, unit RMS."""
    white = rng.standard_normal(n)
    x = signal.sosfilt(signal.butter(1, 150.0, "lowpass", fs=SR, output="sos"), white) * 8.0 + 0.15 * white
    return x / (x.std() + 1e-12)


def _reverb_ir(rng, rt60: float) -> np.ndarray:
    t = _t(rt60)
    ir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    ir = signal.sosfilt(signal.butter(1, 4000.0, "lowpass", fs=SR, output="sos"), ir)
    return ir / np.sqrt((ir**2).sum())


def tracks(rng: np.random.Generator, events: list[tuple[int, np.ndarray]], n: int,
           knobs: Difficulty) -> tuple[np.ndarray, np.ndarray]:
    """Mix dry events into ``denoised`` [n] (mono) and ``mic`` [n, 2] float32 in [-1, 1]."""
    dry = np.zeros(n)
    for at, x in events:
        _add(dry, x, at)
    dry *= float(np.exp(rng.normal(0.0, RECORDER_GAIN_SD)))  # distance to the microphone, recorder gain
    rt60 = rng.uniform(0.2, 0.6)
    wet = [signal.oaconvolve(dry, _reverb_ir(rng, rt60))[:n] for _ in range(2)]
    nz = knobs.noise
    room = _pinkish(rng, n)
    denoised = dry + 0.12 * 0.5 * (wet[0] + wet[1]) + 10 ** (-62 / 20) * nz * room
    # Mains hum: 60 Hz and two harmonics; one period is exactly SR / 60 = 1600 samples, so tile it.
    period = np.arange(SR // 60) / SR
    hum = sum(np.sin(2 * np.pi * 60 * k * period + rng.uniform(0, 6.3)) / k for k in (1, 2, 3))
    hum = np.tile(hum, n // len(period) + 1)[:n] * 10 ** (-52 / 20)
    hiss = rng.standard_normal(n)
    delay = int(rng.integers(0, 25))  # up to 0.25 ms between the two capsules
    mic = np.zeros((n, 2))
    for ch in range(2):
        # Each capsule: the shared room plus its own part (the room and hiss, shifted by a second or so).
        shift = int(rng.integers(SR // 2, 2 * SR))
        noise = 10 ** (-44 / 20) * (0.8 * room + 0.6 * np.roll(room, shift)) + 10 ** (-58 / 20) * np.roll(hiss, shift)
        mic[:, ch] = (0.92 if ch else 1.0) * np.roll(dry, delay * ch) + 0.3 * wet[ch] + nz * (noise + hum)
    peak = max(np.abs(denoised).max(), np.abs(mic).max())
    if peak > 0.95:  # no clipping: turn the whole recording down
        denoised, mic = denoised * (0.95 / peak), mic * (0.95 / peak)
    return denoised.astype(np.float32), mic.astype(np.float32)
