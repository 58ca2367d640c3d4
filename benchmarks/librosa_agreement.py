"""Agreement of vis.eval.foley_metrics with librosa itself (librosa is not a dependency of vis).

    python -m venv /tmp/lv && /tmp/lv/bin/pip install librosa soundfile numpy scipy
    /tmp/lv/bin/python benchmarks/librosa_agreement.py WAV [WAV ...]   # with the repository on PYTHONPATH

For consecutive 2 s clips (every third) of each file, resampled to 22,050 Hz: the largest difference between
librosa's ``onset.onset_strength`` and ours (relative to its peak), and whether ``onset.onset_detect(delta=0.3)``
gives exactly the same onsets.
"""

from __future__ import annotations

import sys

import numpy as np


def main(paths: list[str]) -> None:
    import librosa
    import soundfile as sf

    from vis.eval.foley_metrics import PROTOCOL_SR, librosa_onsets, onset_strength

    clips = same = 0
    worst = 0.0
    for p in paths:
        x, sr = sf.read(p, dtype="float32")
        y = librosa.resample(x if x.ndim == 1 else x.mean(1), orig_sr=sr, target_sr=PROTOCOL_SR)
        for a in range(0, len(y) - 2 * PROTOCOL_SR, 6 * PROTOCOL_SR):
            c = y[a : a + 2 * PROTOCOL_SR]
            ref = librosa.onset.onset_strength(y=c, sr=PROTOCOL_SR)
            worst = max(worst, float(np.abs(ref - onset_strength(c)).max() / max(ref.max(), 1e-9)))
            clips += 1
            same += np.array_equal(librosa.onset.onset_detect(y=c, sr=PROTOCOL_SR, units="samples", delta=0.3),
                                   librosa_onsets(c))
    print(f"librosa {librosa.__version__}: {clips} clips, identical onsets in {same}, "
          f"largest envelope difference {worst:.1e} of its peak")


if __name__ == "__main__":
    main(sys.argv[1:])
