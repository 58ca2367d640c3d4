"""vis: predict impact sounds from silent video (Owens et al., "Visually Indicated Sounds", CVPR 2016).

Importing the package is cheap: no model, data or heavy library is loaded until a function needs it.

    import vis
    model = vis.load_model("runs/det")        # None: the model shipped with the package
    result = model.predict("clip.mp4")        # vis.api.PredictedSound: sound, sr, impacts, cochleagram
    result.write_video("clip_with_sound.mp4")
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from vis.errors import VisError  # noqa: E402

if TYPE_CHECKING:
    from vis.api import Model


def load_model(run: str | os.PathLike | None = None, *, device: str = "auto") -> Model:
    """Load a trained run folder (or its ``model.pt``; ``None``: the model shipped with the package) on
    ``device`` for :meth:`vis.api.Model.predict`. See :mod:`vis.api`."""
    from vis.api import load_model as load

    return load(run, device=device)


__all__ = ["VisError", "__version__", "load_model"]
