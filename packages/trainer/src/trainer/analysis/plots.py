"""PNG plots of a run: learning curves (2x2) and per-label F1 at the best epoch.

matplotlib is imported here only, lazily, and drawn through `Figure` (Agg), never pyplot:
no global state, no display needed, safe inside the trainer's process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .diagnose import Thresholds, label_rows
from .runs import Evaluation, RunData

LEARNING_CURVES = "learning_curves.png"
PER_LABEL_F1 = "per_label_f1.png"
MAX_LABEL_CURVES = 10


def _x(e: Evaluation) -> float:
    return e.epoch if e.epoch is not None else float(e.step or 0)


def _series(run: RunData, name: str) -> tuple[list[float], list[float]]:
    """A metric by epoch: from every logging step when recorded (train loss, learning rate),
    else from the evaluations."""
    steps = [(p.epoch, p.values[name]) for p in run.steps if p.epoch is not None and name in p.values]
    if steps:
        return [e for e, _ in steps], [v for _, v in steps]
    pairs = run.series(name)
    return [_x(e) for e, _ in pairs], [v for _, v in pairs]


def _mark_best(axis, best: Evaluation | None) -> None:
    if best is not None:
        axis.axvline(_x(best), color="tab:green", linestyle="--", linewidth=1, label=f"best epoch {_x(best):g}")


def _empty(axis, text: str) -> None:
    axis.text(0.5, 0.5, text, ha="center", va="center", transform=axis.transAxes, color="gray")


def learning_curves(run: RunData, path: Path) -> Path:
    """Loss (train and eval), validation F1/precision/recall, learning rate, per-label F1."""
    return _save(learning_curves_figure(run), path)


def learning_curves_figure(run: RunData) -> Any:
    from matplotlib.figure import Figure

    best = run.best()
    figure = Figure(figsize=(13, 9), layout="constrained")
    loss, f1, lr, labels = figure.subplots(2, 2).flat
    for name, style in (("train_loss", "-"), ("eval_loss", "-s")):
        xs, ys = _series(run, name)
        if xs:
            loss.plot(xs, ys, style, markersize=3, label=name.replace("_", " "))
    for name, style in (("val_f1", "-o"), ("val_precision", ":"), ("val_recall", "--")):
        xs, ys = _series(run, name)
        if xs:
            f1.plot(xs, ys, style, markersize=3, label=name.replace("val_", "val "))
    xs, ys = _series(run, "learning_rate")
    if xs:
        lr.plot(xs, ys, "-", markersize=3, color="tab:purple", label="learning rate")
        lr.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    final = label_rows(best)[:MAX_LABEL_CURVES]
    for row in final:
        points = [(_x(e), e.per_label[row["label"]]["f1"]) for e in run.evaluations
                  if row["label"] in e.per_label and e.per_label[row["label"]].get("f1") is not None]
        labels.plot([p[0] for p in points], [p[1] for p in points], "-", marker=".", label=row["label"])
    titles = ((loss, "Loss", "loss"), (f1, "Validation F1", "score (0-1)"), (lr, "Learning rate", "learning rate"),
              (labels, f"Per-label F1 (weakest {len(final)} at best epoch)", "F1 (0-1)"))
    for axis, title, ylabel in titles:
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        if axis.lines:
            _mark_best(axis, best)
            axis.legend(fontsize="small", loc="best")
        else:
            _empty(axis, "not recorded")
    for axis in (f1, labels):
        axis.set_ylim(-0.02, 1.02)
    best_text = f"best F1 {run.best_f1:.4f} at epoch {_x(best):g}" if best is not None and run.best_f1 is not None else "no evaluations"
    figure.suptitle(f"{run.job.name} ({run.job_id[:8]}, {run.job.status}): {best_text}")
    return figure


def per_label_f1(run: RunData, path: Path, thresholds: Thresholds = Thresholds()) -> Path:
    """Horizontal bars of F1 per label at the best epoch, weakest at the top, support annotated."""
    return _save(per_label_figure(run, thresholds), path)


def per_label_figure(run: RunData, thresholds: Thresholds = Thresholds()) -> Any:
    from matplotlib.figure import Figure

    best = run.best()
    rows = label_rows(best)
    figure = Figure(figsize=(10, max(3.0, 0.45 * len(rows) + 1.5)), layout="constrained")
    axis = figure.subplots()
    if rows:
        names = [r["label"] for r in reversed(rows)]
        values = [r["f1"] for r in reversed(rows)]
        colors = ["tab:red" if v < thresholds.weak_label_f1 else "tab:blue" for v in values]
        bars = axis.barh(names, values, color=colors)
        for bar, row in zip(bars, reversed(rows), strict=True):
            support = f"n={row['support']}" if row.get("support") is not None else "n=?"
            inside = bar.get_width() > 0.75  # no room to the right: write on the bar itself
            axis.text(bar.get_width() - 0.01 if inside else bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2,
                      f"{row['f1']:.3f}  ({support})", va="center", ha="right" if inside else "left",
                      color="white" if inside else "black", fontsize="small")
        axis.axvline(thresholds.weak_label_f1, color="gray", linestyle=":")
    else:
        _empty(axis, "no per-label metrics recorded")
    axis.set_xlim(0, 1)
    axis.set_xlabel(f"F1 (0-1); n = val entities (support); red, left of the dotted line: weak (F1 < {thresholds.weak_label_f1:g})")
    axis.set_ylabel("label")
    epoch = f"epoch {_x(best):g}" if best is not None else "no evaluation"
    axis.set_title(f"Per-label F1 at the best evaluation ({epoch}): {run.job.name}")
    axis.grid(axis="x", alpha=0.3)
    return figure


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def plot_images(run: RunData, thresholds: Thresholds = Thresholds()) -> dict[str, bytes]:
    """Both plots as PNG bytes, under the names `write_plots` gives their files; nothing is written."""
    from io import BytesIO

    images = {}
    for name, figure in ((LEARNING_CURVES, learning_curves_figure(run)), (PER_LABEL_F1, per_label_figure(run, thresholds))):
        buffer = BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        images[name] = buffer.getvalue()
    return images


def write_plots(run: RunData, out_dir: Path, thresholds: Thresholds = Thresholds()) -> list[Path]:
    """Both plots into `out_dir`, under fixed names (beside run_report.json)."""
    out_dir = Path(out_dir)
    return [learning_curves(run, out_dir / LEARNING_CURVES), per_label_f1(run, out_dir / PER_LABEL_F1, thresholds)]
