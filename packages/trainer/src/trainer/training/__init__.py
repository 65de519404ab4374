"""`trainer fit`: the recipe (`fit`: setup -> train -> cleanup), what it is asked (`request`,
`options`: the one table of fit options), the checks before a job exists (`preflight`), and
its parts: Trainer arguments, batching (`batching`, `packing`, `sampler`), the loss
(`loss`), recording callbacks (`callbacks`), the feature cache, the run summary, what a run
leaves in its folder (`outputs`) and what other jobs may add to a run (`hooks`)."""
