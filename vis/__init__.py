"""vis: predict impact sounds from silent video (Owens et al., "Visually Indicated Sounds", CVPR 2016).

Importing the package is cheap: no model, data or heavy library is loaded until a function needs it.
"""

__version__ = "0.1.0"

from vis.errors import VisError  # noqa: E402

__all__ = ["VisError", "__version__"]
