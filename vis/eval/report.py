"""Markdown tables for ``vis evaluate``, laid out like the paper's (Fig. 5a, 6a and Sec. 6.2 detection)."""

from __future__ import annotations

from vis.eval.proxy import proxy_section

ORDER = ("real", "full", "network-only", "full-example", "parametric", "image-match", "spacetime-match",
         "image+spacetime-match", "random", "real-match", "mean", "average-shape")
NAMES = {
    "real": "Real sound (upper bound)",
    "full": "Full system (predicted features)",
    "network-only": "Network alone (no visual memory)",
    "full-example": "Full system, example-based (transferred impact)",
    "parametric": "Parametric synthesis (re-analysed waveform)",
    "image-match": "Image match",
    "spacetime-match": "Spacetime match",
    "image+spacetime-match": "Image + spacetime match",
    "random": "Random impact sound",
    "real-match": "Real sound match",
    "mean": "Mean training sound",
    "average-shape": "Average impact shape (no video)",
    "full-example+mat": "Full system + mat.",
    "image+spacetime-match+mat": "Image + spacetime match + mat.",
    "random+mat": "Random + mat.",
}


def _f(x, pct: bool = False) -> str:
    if x is None or x != x:
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.2f}"


def _sq(x) -> str:  # squared errors: three decimals (a good baseline can be near 0)
    return "–" if x is None or x != x else f"{x:.3f}"


def _order(names) -> list[str]:
    known = [n for n in ORDER if n in names]
    others = [n for n in names if n not in ORDER]
    return known[:2] + others + known[2:]  # compared runs (ablations) right after the full system


def baseline_line(metrics: dict) -> str:
    """One sentence: does the network (``full``) beat both no-video baselines on held-out sq_err?"""
    if "beats_no_video_baselines" not in metrics or "full" not in metrics["methods"]:
        return ""
    base = metrics.get("no_video_sq_err", {})
    full = metrics["methods"]["full"].get("sq_err")
    margin = metrics.get("sq_err_margin")
    head = (f"The network beats both no-video baselines on held-out sq_err ({_sq(full)} vs mean "
            f"{_sq(base.get('mean'))}, average shape {_sq(base.get('average-shape'))}): ")
    if metrics["beats_no_video_baselines"] and margin is not None:
        return head + f"yes, {100 * margin:.0f} % below the better baseline."
    if margin is None or margin != margin:
        return head + "no."
    return head + f"no, {-100 * margin:.0f} % above the better baseline."


def evaluation_report(metrics: dict, *, run: str, data: str) -> str:
    lines = [
        "# vis evaluate", "",
        f"Model `{run}` on the test split of `{data}`: {metrics['test_impacts']} test impacts (centred on the onsets "
        f"detected in the real sound), {metrics['labelled_impacts']} with a material label; "
        f"{metrics['train_impacts']} training impacts.", "",
        "## Sound prediction (paper Fig. 5a and Sec. 6.3)", "",
        "Loudness and centroid: mean absolute error and Pearson r against the real sound. Class-averaged accuracy "
        "of a linear SVM trained on real training sounds, applied to each method's sound. Sq err: squared error "
        "per row of the square-rooted envelopes (sum over bands, mean over rows and impacts). Contrast: envelope "
        "norm at the impact centre minus that of the first rows (the real sound's in the Real row).", "",
        "| Algorithm | Loss (Eq. 4) | sq err | contrast | Loudness err. | r | Centroid err. | r | Material | Action "
        "| Reaction | Hard/soft |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in _order(metrics["methods"]):
        m = metrics["methods"][name]
        cells = [_f(m.get("loss")), _sq(m.get("sq_err"))]
        cells += [_f(m.get(k)) for k in ("contrast", "loudness_err", "loudness_r", "centroid_err", "centroid_r")]
        cells += [_f(m.get(f"{k}_acc"), True) for k in ("material", "action", "reaction", "hardness")]
        lines.append(f"| {NAMES.get(name, name)} | " + " | ".join(cells) + " |")
    verdict = baseline_line(metrics)
    if verdict:
        lines += ["", verdict]
    lines += proxy_section(metrics, order=_order(metrics["methods"]), names=NAMES)
    if metrics.get("oracle"):
        lines += ["", "## Oracles: knowing the material (paper Fig. 6a), impacts with a material label", "",
                  "| Algorithm | Loudness r | Centroid r | Material |", "| --- | --- | --- | --- |"]
        order = ["real", "full-example+mat", "full-example", "image+spacetime-match+mat", "image+spacetime-match",
                 "random+mat", "random", "real-match"]
        for name in [n for n in order if n in metrics["oracle"]]:
            m = metrics["oracle"][name]
            lines.append(f"| {NAMES.get(name, name)} | {_f(m['loudness_r'])} | {_f(m['centroid_r'])} | "
                         f"{_f(m.get('material_acc'), True)} |")
    if metrics.get("detection"):
        lines += ["", "## Detection on full test videos (paper Sec. 6.2)", "",
                  "Peaks of the parametric waveform scored by their amplitude; an onset is found within 0.1 s. "
                  "Onset accuracy and AP per video as later work reports them (missed onsets always counted).", "",
                  "| Model | AP | AP per video | Onset acc. | Onset AP | predicted / true onsets |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name, m in metrics["detection"].items():
            lines.append(f"| {name} | {_f(m['ap'], True)} | {_f(m['ap_per_video'], True)} | {_f(m['onset_acc'], True)} "
                         f"| {_f(m['onset_ap'], True)} | {m['predicted_onsets']} / {m['true_onsets']} |")
        if "impact-detector" in metrics["detection"]:
            m = metrics["detection"]["impact-detector"]
            lines += ["", f"The impact detector's peaks above its threshold ({m['threshold']:.2f}): precision "
                      f"{_f(m['precision'], True)}, recall {_f(m['recall'], True)}, F1 {_f(m['f1'], True)} "
                      f"({m['kept_onsets']} kept, within 0.1 s one to one)."]
            if m.get("low_rate_videos"):
                lines[-1] += (f" Read by its low-rate detector, at its own threshold (video under 20 fps): "
                              f"{', '.join(m['low_rate_videos'])}.")
    lines += ["", "## Figures", "",
              "- `figures/mean_cochleagram_material.png`, `mean_cochleagram_reaction.png`: mean real cochleagram per "
              "class (Fig. 3a).",
              "- `figures/confusion_material_real.png`, `confusion_material_full.png`: material confusions of the "
              "classifier on real and on predicted sounds, classes ordered by similarity (Fig. 3b, 5b, A1.2).",
              "- `figures/prediction_ID.png`: frames, predicted and real cochleagrams of test videos (Fig. 8).", "",
              f"Evaluation took {metrics.get('seconds', 0):.0f} s.", ""]
    return "\n".join(lines)
