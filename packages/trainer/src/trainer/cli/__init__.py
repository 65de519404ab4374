"""The `trainer` command line: the app (here), one module per command (`fit`, `pretrain`, `predict` and
`export`, `sweep`, `review`, `data-curve`, `mcp`, `runs ...`), their shared helpers (`common.py`) and the tables
people read (`tables.py`, `render_*.py`). Commands parse, call one function, render; heavy
modules load inside the commands, so `trainer --help` is instant."""

from __future__ import annotations

from cli_edge import new_app
from trainer.cli import data_curve, fit, mcp, predict, pretrain, review, runs, sweep

app = new_app("Train LayoutLM token classification on a dataset snapshot and record every run.")
app.add_typer(runs.runs_app, name="runs")


@app.callback()
def main() -> None:
    """Train LayoutLM on a snapshot (`fit`), pretrain it on a corpus (`pretrain`); read runs back (`runs`)."""


# every command, in the order `--help` lists them
fit.register(app)
pretrain.register(app)
predict.register(app)  # predict, export
sweep.register(app)
review.register(app)
data_curve.register(app)
mcp.register(app)

__all__ = ["app"]
