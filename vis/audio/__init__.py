"""Sound in and out: the cochleagram (paper Sec. 4), onsets, resampling, and synthesis (Sec. 5.2).

``SOUND_METHODS`` is here, in a module that imports nothing, so that the command line's ``--help`` can name
the choices without loading numpy or torch.
"""

SOUND_METHODS = ("example", "parametric")  # how predicted features become sound (vis predict --method)
