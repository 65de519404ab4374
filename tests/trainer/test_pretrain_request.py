"""What `trainer pretrain` is asked for: the request round-trips through the job's record, a
resume rebuilds it pinned to the corpus the job read, and a bad option, a missing table or a
missing corpus fails in one line before torch is imported (tests/e2e/test_pretrain.py runs the job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from metrics_store import Job, JobConfig
from tests.conftest import REPO_ROOT
from trainer.config import ModelConfig
from trainer.errors import ConfigError, FitError
from trainer.pretraining.config import MaskingConfig, PretrainConfig
from trainer.pretraining.request import PretrainRequest, request_for_resume


def job_of(kind: str, request: dict, **extra) -> Job:
    return Job(
        job_id=str(uuid.uuid4()),
        name="pre",
        created_at="2026-01-01T00:00:00.000000+00:00",
        job_config=JobConfig(kind, request, None, 42, extra).to_dict(),
    )


def test_a_request_round_trips_through_its_record_and_a_resume_reads_the_same_corpus():
    request = PretrainRequest(
        corpus_root="/data/snapshots",
        model=ModelConfig(model="tiny", max_seq_length=128, doc_stride=32),
        pretrain=PretrainConfig(max_steps=50, learning_rate=2e-3, masking=MaskingConfig(box_mask_probability=0.5)),
        held_out_fraction=0.1,
        job_name="pre",
    )
    recorded = json.loads(json.dumps(request.to_dict()))  # as the table gives it back
    assert PretrainRequest.from_dict(recorded) == request

    resumed = request_for_resume(job_of("pretrain", recorded, corpus={"id": "c3", "content_sha256": "ab" * 32}))
    assert resumed.corpus == "c3" and resumed.pretrain == request.pretrain and resumed.model == request.model
    with pytest.raises(FitError, match="resume it with `trainer fit --resume"):
        request_for_resume(job_of("fit", {"model": {}, "train": {}}))
    with pytest.raises(FitError, match="no request or corpus"):
        request_for_resume(job_of("pretrain", recorded))


@pytest.mark.parametrize(
    "values",
    [{"held_out_fraction": 1.0}, {"held_out_fraction": float("nan")}, {"job_name": "../escape"}, {"corpus": ""}],
)
def test_a_request_that_cannot_work_is_refused(values):
    with pytest.raises(ConfigError):
        PretrainRequest(corpus_root="snapshots", **values)


def test_trainer_pretrain_rejects_bad_input_before_importing_torch(store_config, table, tmp_path):
    cases = [
        (["--corpus", "c1"], "corpus c1 not found"),
        (["--lr", "nan"], "learning_rate"),
        (["--held-out-fraction", "1"], "held_out_fraction"),
        (["--steps", "5", "--epochs", "1"], "--steps or --epochs"),
        (["--restart"], "--restart needs --resume"),
        (["--job-name", "../escape"], "--job-name"),
        (["--warm-start", str(tmp_path)], "either a model or warm_start_text_encoder"),
        (["--model", "microsoft/layoutlm-base-uncased"], "not in the local Hugging Face cache"),
    ]
    common = ["pretrain", "--model", "tiny", "--root", str(tmp_path), "--output-dir", str(tmp_path / "runs")]
    for args, message in cases:
        code = (
            "import sys\n"
            "from trainer.cli import app\n"
            f"try:\n    app([*{common!r}, *{args!r}])\n"
            "except SystemExit as exc:\n    print(exc.code, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            env={
                **os.environ,
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_DYNAMODB": str(store_config.endpoint_url),
                "RECEIPT_ML_TABLE": store_config.table,
            },
        )
        assert out.stdout.split() == ["2", "False", "False"], (args, out.stdout, out.stderr)
        assert message in out.stderr and len(out.stderr.strip().splitlines()) <= 3, (args, out.stderr)
