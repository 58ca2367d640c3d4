"""A study's results: how often each method's sound was taken for the real one (paper Fig. 5a), overall
and by material and action (Fig. 7), with 95 % Wilson score intervals; and the CSV of every answer.

Practice trials are left out. A method that fools every listener is chosen as real half of the time or
more (50 %: listeners cannot tell); the real sound of a clip is never compared with itself.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from vis.errors import VisError
from vis.eval.metrics import wilson
from vis.web.store import Store
from vis.web.study import DATABASE, load_manifest

UNLABELLED = "unlabelled"  # the row of clips whose event has no material (or action) label; listed last
CSV_COLUMNS = ("participant", "trial", "practice", "clip", "video", "time", "material", "action", "method",
               "real_side", "choice", "chose_real", "chose_method", "answered")


def _rate(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"chosen": k, "n": n, "rate": k / n if n else None, "lo": lo, "hi": hi}


def summarize(manifest: dict, answers: list[dict]) -> dict:
    """Per method (and per material and action within it) the rate its sound was chosen as real.

    ``answers`` are the store's rows (:meth:`vis.web.store.Store.answers`). Returns ``{"methods": {m: rate},
    "material": {label: {m: rate}}, "action": {label: {m: rate}}, "answers", "participants", "practice"}``,
    each rate ``{"chosen", "n", "rate", "lo", "hi"}`` (``rate`` None when n is 0).
    """
    clips = {c["id"]: c for c in manifest["clips"]}
    scored = [a for a in answers if not a["practice"]]
    count: dict[tuple, list[int]] = {}
    for a in scored:
        c = clips.get(a["clip"], {})
        fooled = int(not a["chose_real"])
        for key in (("methods", None, a["method"]), ("material", c.get("material") or UNLABELLED, a["method"]),
                    ("action", c.get("action") or UNLABELLED, a["method"])):
            k_n = count.setdefault(key, [0, 0])
            k_n[0] += fooled
            k_n[1] += 1
    out: dict = {"methods": {m: _rate(*count.get(("methods", None, m), [0, 0])) for m in manifest["methods"]},
                 "material": {}, "action": {}, "answers": len(scored), "practice": len(answers) - len(scored),
                 "participants": len({a["participant"] for a in answers})}
    for (kind, label, method), (k, n) in sorted(count.items(), key=lambda kv: (kv[0][1] == UNLABELLED, str(kv[0]))):
        if kind != "methods":
            out[kind].setdefault(label, {})[method] = _rate(k, n)
    return out


def _cell(r: dict | None) -> str:
    if not r or not r["n"]:
        return "-"
    return f"{100 * r['rate']:.1f} % [{100 * r['lo']:.1f}, {100 * r['hi']:.1f}] (n {r['n']})"


def table(res: dict, methods: list[str]) -> str:
    """The results as Markdown: the rate per method (Fig. 5a), then per material and per action (Fig. 7)."""
    lines = [f"{res['answers']} answers from {res['participants']} participants "
             f"({res['practice']} practice answers left out); chosen as real, with 95 % Wilson intervals:", "",
             "| method | chosen as real |", "| --- | --- |"]
    lines += [f"| {m} | {_cell(res['methods'][m])} |" for m in methods]
    for kind in ("material", "action"):
        lines += ["", f"| {kind} | " + " | ".join(methods) + " |", "| --- |" + " --- |" * len(methods)]
        lines += [f"| {label} | " + " | ".join(_cell(by.get(m)) for m in methods) + " |"
                  for label, by in res[kind].items()]
    return "\n".join(lines)


def csv_rows(manifest: dict, answers: list[dict]) -> list[dict]:
    """One row per stored answer (practice ones too, marked), with the clip's video, time and labels."""
    clips = {c["id"]: c for c in manifest["clips"]}
    rows = []
    for a in answers:
        c = clips.get(a["clip"], {})
        rows.append({"participant": a["participant"], "trial": a["trial"], "practice": int(a["practice"]),
                     "clip": a["clip"], "video": a["video"], "time": c.get("time", ""),
                     "material": c.get("material") or "", "action": c.get("action") or "", "method": a["method"],
                     "real_side": a["real_side"], "choice": a["choice"], "chose_real": int(a["chose_real"]),
                     "chose_method": int(not a["chose_real"]), "answered": f"{a['answered']:.3f}"})
    return rows


def write_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write :func:`csv_rows` to ``path`` (under a temporary name, renamed when complete)."""
    path = Path(path)
    if not path.resolve().parent.is_dir():
        raise VisError(f"{path.parent}: output folder does not exist")
    if path.is_dir():
        raise VisError(f"{path}: is a folder (give a file name)")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(csv_text(rows), encoding="utf-8", newline="")
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a folder without write permission: the user's path, not the temporary
        raise VisError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)


def csv_text(rows: list[dict]) -> str:
    """:func:`csv_rows` as CSV text (the results page's export)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def study_results(folder: str | os.PathLike, *, csv_path: str | os.PathLike | None = None) -> str:
    """``vis study results STUDY [--csv FILE]``: the results table of a study folder (and its CSV)."""
    manifest = load_manifest(folder)
    db = Path(folder) / DATABASE
    if not db.is_file():
        raise VisError(f"{db}: no such file (the study's answers)")
    answers = Store(db).answers()
    if csv_path is not None:
        write_csv(csv_path, csv_rows(manifest, answers))
    return table(summarize(manifest, answers), manifest["methods"])
