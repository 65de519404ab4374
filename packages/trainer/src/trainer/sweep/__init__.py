"""Hyperparameter sweeps: every trial a child job run by `trainer.training.fit.fit()`, optuna (TPE or
random search, median pruning on val F1) choosing what to try, the table the only record.

- `space`: the search space file; `options`: `trainer fit` options as request fields;
- `config`: how the sweep searches (`SweepConfig`); `plan`: what it was asked (`SweepPlan`);
- `study`: trials read back from the table, the optuna study rebuilt from them;
- `pruning`: the callback that prunes a trial inside `fit()`; `runner`: the sweep itself.

optuna is imported only where a sweep runs (`pip install 'receipt-ml-trainer[sweep]'`)."""
