"""What a run leaves behind: run.json, pruned checkpoints, and the best model copied to S3."""

import json

import pytest

from trainer.jobs.folders import prune_checkpoints
from trainer.jobs.storage import upload_folder
from trainer.training.outputs import write_run_file


def test_best_model_is_uploaded_to_s3(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    best = tmp_path / "best"
    (best / "sub").mkdir(parents=True)
    (best / "config.json").write_text("{}")
    (best / "sub" / "weights.bin").write_bytes(b"\x00" * 1024)
    uri = upload_folder(best, f"s3://{bucket}/runs/job-1", s3_client=client)
    assert uri == f"s3://{bucket}/runs/job-1/best/"
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["runs/job-1/best/config.json", "runs/job-1/best/sub/weights.bin"]
    assert client.get_object(Bucket=bucket, Key="runs/job-1/best/sub/weights.bin")["ContentLength"] == 1024
    with pytest.raises(ValueError, match="must be an s3:// URI"):
        upload_folder(best, "/not/s3", s3_client=client)


def test_checkpoints_are_pruned_and_run_file_written(tmp_path):
    for step in (10, 20, 30):
        (tmp_path / f"checkpoint-{step}").mkdir()
    assert prune_checkpoints(tmp_path, keep=tmp_path / "checkpoint-20") == ["checkpoint-10", "checkpoint-30"]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-20"]
    path = write_run_file(tmp_path, {"best_f1": 0.5, "epoch_metrics": []})
    assert json.loads(path.read_text()) == {"best_f1": 0.5, "epoch_metrics": []}
