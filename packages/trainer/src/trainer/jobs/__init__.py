"""What every job shares, whatever it runs: the one lifecycle (`lifecycle.JobSession`: open,
lease, end, close, the resume command), child jobs (`children`), run folders and their
checkpoints (`folders`), signals (`signals`), records the table did not take (`spool`) and S3
copies (`storage`)."""
