"""``vis serve``: a web demo (upload a silent video, get it back with predicted sound) and listening studies
after the paper's Sec. 6.2 (real or fake? two clips of the same impact, one with the real sound).

- :mod:`vis.web.study` builds a study folder from a dataset's test split (``vis study create``) and deals
  each participant their trials.
- :mod:`vis.web.results` turns answers into the rate each method's sound was taken for real, with 95 %
  Wilson intervals (paper Fig. 5a, Fig. 7), and the CSV export (``vis study results``).
- :mod:`vis.web.store` keeps participants and answers in the study's SQLite file (WAL).
- :mod:`vis.web.serve` is the FastAPI app; :mod:`vis.web.jobs` the demo's uploads and prediction jobs.
"""
