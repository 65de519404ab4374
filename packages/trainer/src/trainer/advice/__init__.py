"""What to run next: the exact `trainer fit` command of the best run so far, adjusted only
where its own diagnoses say so, with the evidence for each option from the runs and the
sweeps (`trainer runs next`, the agent server's `what_next`)."""
