"""Learning curves on purpose (`trainer data-curve`): the same recipe trained on nested subsets
of a snapshot's train receipts (25, 50 and 100% by default), each subset a derived snapshot
(`dataset_builder.subsets`) and each training a child job of the data-curve job, trained by
`trainer.fit.fit()`. `trainer runs report` reads them back as measured per-label learning
curves (`trainer.analysis.curve_evidence`): which labels still gain from more examples.

- `config`: what a data curve is asked (`CurveRequest`);
- `run`: the data-curve job itself, with a lease, resumable like a review."""
