"""Fine-tunes of pretrained folders in run analysis, on runs recorded in memory (`MemoryJobs`):
`runs show` names the pretraining, `runs compare` flags two fine-tunes whose pretraining
differs, `runs explain` names the pretraining as the cause when it is all that changed (and
not when the model it started from or another option changed too), and says when a
pretraining read the val split a fine-tune is scored on."""

from __future__ import annotations

import uuid
from typing import Any

from metrics_store import MemoryJobs
from trainer.analysis.compare import compare_runs, explain
from trainer.analysis.lineage import SnapshotInfo, snapshot_changes
from trainer.analysis.runs import RunData
from trainer.analysis.views import show_payload, stamped

from .test_runs_builders import healthy, record_run, request, snapshot_lineage, validate

VAL_SPLIT = "val-split-hash-of-v1"
SNAPSHOT = {**snapshot_lineage("v1"), "split_hashes": {"train": "train-split-hash", "val": VAL_SPLIT}}


def pretrained(job_id: str, *, steps: int = 200, started_from: str = "tiny", val: str | None = VAL_SPLIT) -> dict:
    """What `trainer fit --model DIR` records about a folder `trainer pretrain` wrote."""
    return {
        "job_id": job_id,
        "corpus_id": "c1",
        "corpus_sha256": "c0" * 32,
        "excluded_val_of": "v1" if val else None,
        "excluded_val_split_hash": val,
        "started_from": started_from,
        "steps": steps,
        "tokens_seen": 123456,
        "held_out_mlm_loss": 3.2,
    }


def fine_tune(jobs: MemoryJobs, name: str, *, model: str, f1: float, pretraining=None, **train: Any) -> RunData:
    """A recorded fit run from `model` whose best F1 is about `f1`, read back as `trainer runs` reads it."""
    curves = healthy()
    curves.f1 = [round(v + f1 - max(curves.f1), 4) for v in curves.f1]
    config = request(**train)
    config["model"] = {**config["model"], "model": model}
    job_id = record_run(
        jobs.recorder_for(str(uuid.uuid5(uuid.NAMESPACE_URL, name))),
        curves,
        name=name,
        snapshot=SNAPSHOT,
        request_config=config,
        pretraining=pretraining,
    )
    recorder = jobs.recorder_for(job_id)
    return RunData.from_records(
        jobs.get_job(job_id), jobs.iter_job_metrics(job_id), jobs.iter_job_logs(job_id), recorder.statuses
    )


def same_snapshot() -> SnapshotInfo:
    return SnapshotInfo("v1", SNAPSHOT["uri"], SNAPSHOT["content_sha256"], list(SNAPSHOT["label_list"]))


def explained(a: RunData, b: RunData) -> dict[str, Any]:
    info_a, info_b = same_snapshot(), same_snapshot()
    payload = stamped("runs_explain", explain(a, b, info_a, info_b, snapshot_changes(info_a, info_b)))
    validate(payload, "runs_explain")
    return payload


def test_the_pretraining_is_the_cause_when_it_is_all_that_changed():
    jobs = MemoryJobs()
    plain = fine_tune(jobs, "plain", model="tiny", f1=0.80)
    short = fine_tune(jobs, "short", model="/runs/pre-a/pretrained", f1=0.84, pretraining=pretrained("pre-a"))
    longer = fine_tune(
        jobs, "longer", model="/runs/pre-b/pretrained", f1=0.86, pretraining=pretrained("pre-b", steps=800)
    )

    first = explained(plain, short)
    assert first["cause"]["kind"] == "pretraining" and first["comparable"]["comparable"] is True
    assert "job pre-a on corpus c1" in first["cause"]["sentence"] and "not pretrained" in first["cause"]["sentence"]
    assert first["pretraining_changes"] == {"a": None, "b": pretrained("pre-a")}
    assert {c["key"] for c in first["config_changes"]} == {
        "model.model",
        *(f"pretraining.{k}" for k in ("job_id", "corpus_id", "corpus_sha256", "steps", "started_from")),
    }
    assert first["confounders"] == [] and first["f1_change"] > 0

    second = explained(short, longer)
    assert second["cause"]["kind"] == "pretraining" and "800 steps" in second["cause"]["sentence"]
    assert {c["key"] for c in second["config_changes"]} == {"model.model", "pretraining.job_id", "pretraining.steps"}
    assert any(s.startswith("Pretraining changed: A job pre-a") for s in second["explanation"])

    compared = stamped(
        "runs_compare", compare_runs([plain, short, longer], [same_snapshot(), same_snapshot(), same_snapshot()])
    )
    validate(compared, "runs_compare")
    assert compared["comparable"] is True
    assert [c["same_pretraining"] for c in compared["comparability"]] == [False, False]
    assert [r["pretraining"] and r["pretraining"]["job_id"] for r in compared["runs"]] == [None, "pre-a", "pre-b"]
    steps = next(d for d in compared["config_differences"] if d["key"] == "pretraining.steps")
    assert steps["values"] == [None, 200, 800]


def test_the_pretraining_is_not_the_cause_when_more_than_it_changed():
    jobs = MemoryJobs()
    plain = fine_tune(jobs, "plain", model="tiny", f1=0.80)
    other_lr = fine_tune(
        jobs, "lr", model="/runs/pre-a/pretrained", f1=0.84, pretraining=pretrained("pre-a"), learning_rate=1e-4
    )
    assert explained(plain, other_lr)["cause"]["kind"] == "config"  # the learning rate changed as well
    from_bert = fine_tune(
        jobs, "bert", model="/runs/pre-c/pretrained", f1=0.84, pretraining=pretrained("pre-c", started_from="/bert")
    )
    assert explained(plain, from_bert)["cause"]["kind"] == "config"  # another starting model, not only pretraining
    again = fine_tune(jobs, "again", model="/runs/pre-a/pretrained", f1=0.82, pretraining=pretrained("pre-a"), seed=7)
    same = explained(
        fine_tune(jobs, "once", model="/runs/pre-a/pretrained", f1=0.84, pretraining=pretrained("pre-a")), again
    )
    assert same["cause"]["kind"] == "seed" and same["pretraining_changes"] is None


def test_a_pretraining_that_read_the_val_split_is_named_and_show_names_the_pretraining():
    jobs = MemoryJobs()
    plain = fine_tune(jobs, "plain", model="tiny", f1=0.80)
    leaky = fine_tune(jobs, "leaky", model="/runs/pre-d/pretrained", f1=0.90, pretraining=pretrained("pre-d", val=None))
    found = explained(plain, leaky)
    assert found["confounders"] == [
        "B's model was pretrained on corpus c1, which was not built for its val split: the pretraining may have "
        "read (unlabelled) words B is scored on, so its F1 may be optimistic."
    ]
    assert found["comparable"]["comparable"] is True and found["cause"]["kind"] == "pretraining"

    shown = show_payload(leaky, same_snapshot().to_dict())
    validate(shown, "run_show")
    assert shown["pretraining"]["job_id"] == "pre-d" and shown["corpus"] is None
    assert show_payload(plain, same_snapshot().to_dict())["pretraining"] is None
