"""Model-assisted label review (`trainer review`): out-of-sample label probabilities for every
word of a snapshot, by K-fold cross-fitting (each fold a child job trained by
`trainer.training.fit.fit()`) or one finished job's model on its val split, turned into three ranked
queues of labels to look at first, and, on request, PENDING suggestions in the table.

- `config`: what a review is asked (`ReviewRequest`, `QueueConfig`);
- `folds`: the fold models (child jobs) and the probabilities each gives its held-out fold;
- `queues`: probabilities -> queues and the summary per label (pure; cleanlab inside);
- `output`: queue files, the summary, the suggestions; `render`: the summary as tables;
- `run`: the review itself, a Job with a lease, resumable.

cleanlab is imported only where queues are built (`pip install 'receipt-ml-trainer[review]'`).
The folds' data (every word of the snapshot's receipts, each fold a derived snapshot) comes from
`dataset_builder.review`, which never imports torch."""
