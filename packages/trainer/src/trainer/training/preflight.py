"""Checks that run before a job is created, so a run that cannot work fails in seconds, with
one line, and leaves nothing behind: the table answers, the snapshot opens and passed its
contracts, the model can be loaded from where it is said to be, files named by options exist,
and the upload destination accepts a write. None of this imports torch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.config import ModelConfig
from trainer.errors import ConfigError, FitError
from trainer.jobs.storage import check_upload_destination
from trainer.model.hub import require_available
from trainer.model.pretrained import read_lineage
from trainer.training.request import FitRequest

if TYPE_CHECKING:
    from dataset_builder.snapshot import Snapshot


def check_table(table: Any) -> None:
    """One DescribeTable: a missing table or an endpoint that is down fails here."""
    from metrics_store import TableNotFound, table_exists

    if not table_exists(table):
        raise TableNotFound(table.name, table.endpoint_url)


def open_gated_snapshot(request: FitRequest) -> Snapshot:
    """The verified snapshot; one whose contracts failed only when explicitly allowed."""
    from dataset_builder.snapshot import SnapshotError, open_snapshot

    try:
        snapshot = open_snapshot(request.snapshot_root, request.snapshot)
    except SnapshotError as exc:
        raise FitError(str(exc)) from exc
    if not snapshot.contracts_passed and not request.allow_contract_failures:
        raise FitError(
            f"snapshot {snapshot.id} failed its data contracts; check it with `dsb contracts check --snapshot "
            f"{snapshot.id}`, "
            "or pass --allow-contract-failures to train on it anyway"
        )
    return snapshot


def check_model_source(request: FitRequest) -> None:
    """The model can be loaded (`check_model`)."""
    check_model(request.model)


def check_model(model: ModelConfig) -> None:
    """The model can be loaded: a folder has its config (and, when pretrained, a readable
    pretraining.json); a hub id is cached, or (unless HF_HUB_OFFLINE=1) its config downloads
    now (`trainer.model.hub`)."""
    if model.source == "warm_start":
        folder = Path(str(model.warm_start_text_encoder)).expanduser()
        if not (folder / "config.json").is_file():
            raise ConfigError(f"--warm-start {folder}: no config.json there (a BERT folder written by save_pretrained)")
    elif model.source == "local":
        folder = Path(model.model).expanduser()
        if not (folder / "config.json").is_file():
            raise ConfigError(f"--model {folder}: no config.json there (a LayoutLM folder written by save_pretrained)")
        read_lineage(folder)  # a pretrained folder whose pretraining.json cannot be read fails here, in one line
    elif model.source == "hub":
        require_available(model.model)


def check_files(request: FitRequest) -> None:
    weights = request.train.class_weights
    if weights not in ("auto", "none") and not Path(weights).is_file():
        raise ConfigError(f'--class-weights {weights}: no such file (or use "auto" / "none")')
    check_output_dir(request.train.output_dir)


def check_output_dir(output_dir: str) -> None:
    """The run folder can be made and written there (a probe file, removed again)."""
    folder = Path(output_dir).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".receipt-ml-write-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"--output-dir {output_dir}: cannot write there ({exc.strerror or type(exc).__name__})"
        ) from exc


def preflight(request: FitRequest, table: Any | None = None, *, s3_client: Any = None) -> Snapshot:
    """Everything that can be checked before the job exists; returns the opened snapshot."""
    if table is not None:
        check_table(table)
    check_files(request)
    check_model_source(request)
    snapshot = open_gated_snapshot(request)
    if request.upload_uri:
        check_upload_destination(request.upload_uri, s3_client=s3_client)
    return snapshot
