"""`python -m trainer.cli ...` (as torchrun launches it): the `trainer` command."""

from trainer.cli import app

app()
