"""Difficulty knobs of the synthetic dataset, with their defaults, in one place.

Pass any of them to :func:`vis.synth.generate` as keyword arguments (``generate(..., noise=2.0)``).
Each is a non-negative multiplier or rate; 0 switches the effect off. With the defaults, a linear SVM
on the cochleagram windows of annotated events scores ~50-55 % class-averaged material accuracy (the
paper's real sounds: 45.8 %), one on the contact frame's mean colour ~15 % (chance 5.9 %); measure with
``python benchmarks/bench_synth.py --learnability``. On 100 videos x 20 s (train/test split, then 5-fold
video-grouped CV): sound_variation 0 and texture_variation 0 give sound 63 / 70 %, colour 18 / 23 %;
the defaults 53 / 53 % and 17 / 14 %; sound_variation 3 and texture_variation 2 give 36 / 37 % and
16 / 14 %.

* harder sound-to-material (and sound-from-vision): raise ``sound_variation``, ``noise``;
* harder material-from-picture: raise ``texture_variation``, ``sensor_noise``;
* harder timing-from-picture: raise ``distractor_rate`` and ``shake``;
* more even class counts: raise ``material_balance`` toward 1.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from vis.errors import VisError


@dataclass(frozen=True)
class Difficulty:
    # Within-material spread of how things sound: object size (mode frequencies scale with 1/size),
    # thickness and mounting (damping), hit position (mode amplitudes), stick hardness (brightness).
    # At 1.0 an object's modes move by a factor of ~1.5 up or down between videos of one material.
    sound_variation: float = 1.5
    # Spread of a material's look between videos: colour (hue, saturation, brightness, white balance),
    # texture scale and contrast, lighting gradient and blur. 0 gives each material its canonical look
    # (one of its base colours, unjittered).
    texture_variation: float = 0.6
    # Strike-like stick motions that stop short of the surface, per second of video (the real videos
    # have many such motions between actions).
    distractor_rate: float = 0.15
    # Background sound, as a gain: the denoised track's faint room tone (-62 dBFS at 1.0) and the mic
    # track's room noise (-44 dBFS), hiss (-58 dBFS) and 60 Hz hum (-52 dBFS). Reverberation is fixed.
    noise: float = 1.0
    # Camera sensor noise (x 2 grey levels of 255, standard deviation).
    sensor_noise: float = 1.0
    # Hand-held camera shake (x ~3 px at 256 px high).
    shake: float = 1.0
    # How often each material appears: 0 = the real annotations' frequencies (wood 15x glass),
    # 1 = uniform over the allowed materials.
    material_balance: float = 0.6
    # Spread of strike strength (loudness and brightness of a hit, speed of the stick).
    speed_spread: float = 1.0


DEFAULTS = Difficulty()
MAXIMUM = 10.0  # a knob above this is almost certainly a mistake


def difficulty(**knobs: float) -> Difficulty:
    """Validate keyword knobs and return a :class:`Difficulty`. Raises VisError on unknown or bad ones."""
    names = {f.name for f in fields(Difficulty)}
    for k, v in knobs.items():
        if k not in names:
            raise VisError(f"unknown difficulty knob {k!r} (one of {', '.join(sorted(names))})")
        if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= MAXIMUM:
            raise VisError(f"difficulty knob {k} = {v!r} must be a number from 0 to {MAXIMUM:g}")
    d = Difficulty(**{k: float(v) for k, v in knobs.items()})
    if d.material_balance > 1.0:
        raise VisError(f"material_balance = {d.material_balance:g} must be between 0 and 1")
    return d
