"""PNG plots of a sweep (matplotlib, lazily, through `Figure`: no pyplot state):

- `optimisation_history.png`: best val_f1 of every trial by trial number (completed, pruned at
  their value when pruned, failed at 0), the best so far as a step line, the seed repeats of
  the best config, and the seed-noise band under the best;
- `params_vs_f1.png`: one panel per searched parameter, its value against best val_f1 (log
  axis for log-scale parameters, one column per choice for categoricals)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trainer.sweep.space import SearchSpace

HISTORY = "optimisation_history.png"
PARAMS = "params_vs_f1.png"
STYLE = {"complete": ("o", "tab:blue"), "pruned": ("x", "tab:orange"), "failed": ("v", "tab:red")}


def optimisation_history(payload: dict[str, Any], path: Path) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 5), layout="constrained")
    axis = figure.subplots()
    rows = sorted(payload["trials"], key=lambda r: r["number"])
    for state, (marker, color) in STYLE.items():
        chosen = [r for r in rows if r["state"] == state]
        ys = [
            0.0
            if state == "failed"
            else (r["pruned_at"] or {}).get("value", r["best_f1"])
            if state == "pruned"
            else r["best_f1"]
            for r in chosen
        ]
        if chosen:
            axis.scatter(
                [r["number"] for r in chosen],
                [y if y is not None else 0.0 for y in ys],
                marker=marker,
                color=color,
                label=f"{state} ({len(chosen)})" + (" at its value when pruned" if state == "pruned" else ""),
                zorder=3,
            )
    best_so_far, xs, running = [], [], -math.inf
    for row in rows:
        if row["state"] == "complete" and row["best_f1"] is not None:
            running = max(running, row["best_f1"])
        if running > -math.inf:
            xs.append(row["number"])
            best_so_far.append(running)
    if xs:
        axis.step(xs, best_so_far, where="post", color="tab:green", label="best so far")
    noise, best = payload["seed_noise"], payload["best"]
    if best is not None:
        seeds = [j for j in noise["jobs"][1:] if j["best_f1"] is not None]
        if seeds:
            axis.scatter(
                [best["number"]] * len(seeds),
                [j["best_f1"] for j in seeds],
                marker="D",
                color="tab:green",
                label=f"best config, other seeds ({len(seeds)})",
                zorder=4,
            )
        if noise["margin"] is not None:
            axis.axhspan(
                best["best_f1"] - noise["margin"],
                best["best_f1"],
                color="tab:green",
                alpha=0.12,
                label=f"within seed noise of the best ({noise['margin']:.3f})",
            )
    axis.set_xlabel("trial number")
    axis.set_ylabel("best val_f1 of the trial (0-1)")
    axis.grid(alpha=0.3)
    if axis.collections or axis.lines:
        axis.legend(fontsize="small", loc="best")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    sweep = payload["sweep"]
    title = f"best val_f1 {best['best_f1']:.4f} (trial {best['number']})" if best else "no completed trial"
    axis.set_title(
        f"{sweep['name']} ({sweep['job_id'][:8]}, {sweep['config']['sampler']}, pruner {sweep['config']['pruner']}): "
        f"{title}"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def params_vs_f1(space: SearchSpace, payload: dict[str, Any], path: Path) -> Path:
    from matplotlib.figure import Figure

    params = space.params
    columns = min(3, len(params))
    lines = math.ceil(len(params) / columns)
    figure = Figure(figsize=(5 * columns, 4 * lines), layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False)
    rows = [r for r in payload["trials"] if r["state"] in ("complete", "pruned") and r["best_f1"] is not None]
    verdicts = {v["parameter"]: v for v in payload["verdicts"]}
    for index, param in enumerate(params):
        axis = axes[index // columns][index % columns]
        categories = [str(c) for c in param.choices] if param.kind == "categorical" else None
        for state in ("complete", "pruned"):
            marker, color = STYLE[state]
            chosen = [r for r in rows if r["state"] == state and param.name in r["params"]]
            xs = [
                categories.index(str(r["params"][param.name])) if categories else r["params"][param.name]
                for r in chosen
            ]
            ys = [
                (r["pruned_at"] or {}).get("value", r["best_f1"]) if state == "pruned" else r["best_f1"] for r in chosen
            ]
            if chosen:
                axis.scatter(xs, ys, marker=marker, color=color, label=state)
        if categories:
            axis.set_xticks(range(len(categories)), categories, rotation=30 if max(map(len, categories)) > 6 else 0)
            axis.set_xlim(-0.5, len(categories) - 0.5)
        elif param.is_log:
            axis.set_xscale("log")
        axis.set_xlabel(param.name + (" (log scale)" if param.is_log else ""))
        axis.set_ylabel("best val_f1 (0-1)")
        verdict = verdicts.get(param.name, {}).get("verdict", "")
        axis.set_title(f"{param.name}: {verdict.replace('_', ' ')}", fontsize="medium")
        axis.grid(alpha=0.3)
        if axis.collections:
            axis.legend(fontsize="small", loc="best")
    for index in range(len(params), lines * columns):
        axes[index // columns][index % columns].set_visible(False)
    figure.suptitle(f"{payload['sweep']['name']}: parameter vs best val_f1 (pruned trials at their value when pruned)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def write_sweep_plots(space: SearchSpace, payload: dict[str, Any], out_dir: Path) -> list[Path]:
    return [optimisation_history(payload, out_dir / HISTORY), params_vs_f1(space, payload, out_dir / PARAMS)]
