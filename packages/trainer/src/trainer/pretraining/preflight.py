"""Checks that run before a pretrain job is created, so a job that cannot work fails in
seconds, with one line, and leaves nothing behind: the corpus opens (its hashes verify) and
passed its contracts, the model can be loaded from where it is said to be, and the output
folder can be written. None of this imports torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainer.errors import FitError
from trainer.pretraining.request import PretrainRequest
from trainer.training.preflight import check_model, check_output_dir

if TYPE_CHECKING:
    from dataset_builder.corpus import Corpus


def open_gated_corpus(request: PretrainRequest) -> Corpus:
    """The verified corpus; one whose contracts failed only when explicitly allowed."""
    from dataset_builder.corpus import open_corpus
    from dataset_builder.storage import SnapshotError

    try:
        corpus = open_corpus(request.corpus_root, request.corpus)
    except SnapshotError as exc:
        raise FitError(str(exc)) from exc
    if not corpus.contracts_passed and not request.allow_contract_failures:
        raise FitError(
            f"corpus {corpus.id} failed its data contracts ({corpus.contracts.status}); check it with "
            f"`dsb corpus check {corpus.id}`, or pass --allow-contract-failures to pretrain on it anyway"
        )
    return corpus


def preflight(request: PretrainRequest) -> Corpus:
    """Everything that can be checked before the job exists; returns the opened corpus."""
    check_output_dir(request.output_dir)
    check_model(request.model)
    return open_gated_corpus(request)
