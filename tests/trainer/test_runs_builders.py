"""Recorded runs with known shapes (healthy, overfitting, plateau, early-stopped, weak label),
written through any metrics_store recorder, and the diagnoses on them without a table.

The builders are shared by the other test_runs_* modules."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from metrics_store import Job, MemoryRecorder, NullRecorder, RunRecorder
from tests.conftest import REPO_ROOT
from trainer.analysis import RunData, Thresholds, diagnose_run, write_run_report_from_recorder
from trainer.analysis.data_needs import CurvePoint, CurveSeries, rank_labels
from trainer.analysis.lineage import SnapshotInfo
from trainer.analysis.schedule import observe_schedule
from trainer.analysis.views import monitor_frame, show_payload

SCHEMAS = REPO_ROOT / "docs" / "schemas"
STEPS_PER_EPOCH = 10
SUPPORT = {"AMOUNT": 200, "MERCHANT_NAME": 60, "DATE": 20}
LABEL_F1 = {"AMOUNT": 0.92, "MERCHANT_NAME": 0.84, "DATE": 0.75}


def validate(payload: dict[str, Any], schema_name: str) -> None:
    schema = json.loads((SCHEMAS / f"{schema_name}.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(payload)


def linear_lr(epochs: int, *, peak: float = 5e-5, warmup_steps: int = 15) -> list[float]:
    """Linear warmup to `peak`, then linear decay to 0 at the last step, sampled per epoch."""
    total = epochs * STEPS_PER_EPOCH
    steps = [e * STEPS_PER_EPOCH for e in range(1, epochs + 1)]
    return [peak * s / warmup_steps if s < warmup_steps else peak * (total - s) / (total - warmup_steps) for s in steps]


@dataclass
class Curves:
    """Per-epoch values of a run (index 0 is epoch 1)."""

    train_loss: list[float]
    eval_loss: list[float]
    f1: list[float]
    lr: list[float]
    label_f1: dict[str, list[float]] = field(default_factory=dict)
    support: dict[str, int] = field(default_factory=lambda: dict(SUPPORT))

    @property
    def epochs(self) -> int:
        return len(self.f1)


def _labels_following(f1: list[float], finals: dict[str, float]) -> dict[str, list[float]]:
    """Label curves shaped like the overall F1, ending at `finals` at the best epoch."""
    top = max(f1)
    return {label: [round(value * v / top, 4) for v in f1] for label, value in finals.items()}


def healthy(epochs: int = 10) -> Curves:
    f1 = [round(0.5 + 0.38 * (1 - math.exp(-0.45 * e)) + 0.002 * e, 4) for e in range(1, epochs + 1)]
    return Curves(
        [round(1.0 * 0.88**e, 4) for e in range(1, epochs + 1)],
        [round(1.1 * 0.93**e, 4) for e in range(1, epochs + 1)],
        f1,
        linear_lr(epochs),
        _labels_following(f1, LABEL_F1),
    )


def overfitting(epochs: int = 10) -> Curves:
    curves = healthy(epochs)
    curves.eval_loss = [
        round(0.9 - 0.1 * e, 4) if e <= 4 else round(0.5 + 0.06 * (e - 4), 4) for e in range(1, epochs + 1)
    ]
    curves.f1 = [round(0.6 + 0.06 * e, 4) if e <= 4 else round(0.84 - 0.01 * (e - 4), 4) for e in range(1, epochs + 1)]
    curves.label_f1 = _labels_following(curves.f1, LABEL_F1)
    return curves


def plateau(epochs: int = 10) -> Curves:
    curves = healthy(epochs)
    curves.f1 = [
        round(0.5 + 0.08 * e, 4) if e <= 4 else round(0.82 + 0.001 * ((-1) ** e), 4) for e in range(1, epochs + 1)
    ]
    curves.label_f1 = _labels_following(curves.f1, LABEL_F1)
    return curves


def early_stopped(best_epoch: int = 5, patience: int = 3) -> Curves:
    epochs = best_epoch + patience
    curves = healthy(epochs)
    curves.lr = linear_lr(20)[:epochs]
    curves.f1 = [
        round(0.6 + 0.05 * e, 4) if e <= best_epoch else round(0.85 - 0.01 * (e - best_epoch), 4)
        for e in range(1, epochs + 1)
    ]
    curves.label_f1 = _labels_following(curves.f1, LABEL_F1)
    return curves


def weak_label(epochs: int = 10) -> Curves:
    curves = healthy(epochs)
    curves.support = {**SUPPORT, "DATE": 5}
    curves.label_f1 = _labels_following(curves.f1, {**LABEL_F1, "DATE": 0.2})
    return curves


def snapshot_lineage(
    snapshot_id: str = "v1",
    *,
    uri: str | None = None,
    content: str = "c0ffee" * 10 + "cafe",
    labels: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": snapshot_id,
        "uri": uri or f"/nowhere/snapshots/{snapshot_id}",
        "content_sha256": content,
        "manifest_sha256": "m" * 64,
        "label_list": labels or sorted(SUPPORT),
        "coordinate_convention": "top-left 0..1000",
    }


def request(**train: Any) -> dict[str, Any]:
    base = {
        "epochs": 10,
        "batch_size": 16,
        "learning_rate": 5e-5,
        "warmup_ratio": 0.15,
        "weight_decay": 0.01,
        "label_smoothing": 0.0,
        "gradient_accumulation_steps": 1,
        "early_stopping_patience": 3,
        "checkpoint_metric": "val_f1",
        "class_weights": "none",
        "seed": 42,
        "output_dir": "runs",
    }
    return {
        "snapshot_root": "/nowhere/snapshots",
        "snapshot": "latest",
        "model": {"model": "tiny", "max_seq_length": 128},
        "train": {**base, **train},
        "job_name": None,
        "description": "",
        "created_by": "test",
    }


def record_run(
    recorder: RunRecorder,
    curves: Curves,
    *,
    name: str = "run",
    finished: bool = True,
    early_stopping_triggered: bool | None = None,
    snapshot: dict[str, Any] | None = None,
    request_config: dict[str, Any] | None = None,
    created_at: str = "2026-01-01T00:00:00.000000+00:00",
    write_results: bool = True,
    pretraining: dict[str, Any] | None = None,
) -> str:
    """Write a run the way trainer fit does: job, dataset metrics, run_config, one metrics batch
    and one status per evaluation, then run_summary, results and the final status. `pretraining`:
    the lineage a fine-tune of a pretrained folder records in its job config."""
    snapshot = snapshot or snapshot_lineage()
    config = request_config or request(epochs=curves.epochs)
    job = Job(
        job_id=recorder.job_id,
        name=name,
        created_at=created_at,
        job_config={
            "request": config,
            "snapshot": snapshot,
            "seed": config["train"]["seed"],
            **({"pretraining": pretraining} if pretraining else {}),
        },
        storage={"output_dir": f"/tmp/runs/{name}"},
        tags={"snapshot_id": snapshot["id"], "model": "tiny"},
    )
    recorder.open(job)
    recorder.status("running", message="setting up", progress=0.0)
    recorder.metrics(
        {
            "num_train_samples": 90,
            "num_val_samples": 10,
            "num_train_receipts": 45,
            "num_val_receipts": 5,
            "o_entity_ratio_train": 2.0,
            "class_weights": {"O": 1.0, "B-DATE": 2.5},
        }
    )
    recorder.log({"type": "run_config", "job_id": recorder.job_id, "request": config, "snapshot": snapshot})
    total_steps = config["train"]["epochs"] * STEPS_PER_EPOCH
    history = []
    for index in range(curves.epochs):
        epoch, step = float(index + 1), (index + 1) * STEPS_PER_EPOCH
        values: dict[str, Any] = {
            "val_f1": curves.f1[index],
            "val_precision": round(curves.f1[index] + 0.02, 4),
            "val_recall": round(curves.f1[index] - 0.02, 4),
            "eval_loss": curves.eval_loss[index],
            "train_loss": curves.train_loss[index],
            "learning_rate": curves.lr[index],
            "samples_per_second": 32.0,
            "steps_per_second": 2.0,
            "peak_memory_mb_rss": 900.0 + index,
        }
        for label, f1s in curves.label_f1.items():
            values[f"label_{label}"] = {
                "f1": f1s[index],
                "precision": f1s[index],
                "recall": f1s[index],
                "support": curves.support[label],
            }
        recorder.metrics(values, epoch=epoch, step=step)
        recorder.status("running", progress=100.0 * step / total_steps, message=f"epoch {epoch:g}")
        history.append({"epoch": epoch, "step": step, "val_f1": curves.f1[index]})
    if not finished:
        recorder.close()  # everything written, as fit() leaves it
        return recorder.job_id
    best = max(history, key=lambda h: h["val_f1"])
    summary = {
        "type": "run_summary",
        "best_f1": best["val_f1"],
        "best_epoch": best["epoch"],
        "epochs_since_best": history[-1]["epoch"] - best["epoch"],
        "epoch_metrics": history,
    }
    if early_stopping_triggered is not None:
        summary["early_stopping_triggered"] = early_stopping_triggered
    recorder.log(summary)
    if write_results:
        results = {k: summary[k] for k in ("best_f1", "best_epoch", "epochs_since_best")}
        if early_stopping_triggered is not None:
            results["early_stopping_triggered"] = early_stopping_triggered
        recorder.results({**results, "train_runtime": 42.0, "total_flos": 1e12})
    recorder.status("succeeded", progress=100.0)
    recorder.close()
    return recorder.job_id


def memory_run(curves: Curves, **kw: Any) -> RunData:
    recorder = MemoryRecorder(str(uuid.uuid4()))
    record_run(recorder, curves, **kw)
    return RunData.from_records(recorder.job, recorder.metric_records, recorder.logs, recorder.statuses)


def by_name(diagnoses: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in diagnoses}


# --- the diagnoses on in-memory runs --------------------------------------------------------


def test_a_healthy_run_has_no_findings():
    found = by_name(diagnose_run(memory_run(healthy())))
    assert found["overfitting"]["verdict"] is False
    assert found["plateau"]["verdict"] is False
    assert found["early_stopping"]["verdict"] is False
    assert found["best_vs_last"]["verdict"] == "last_is_best"
    assert found["weak_labels"]["verdict"] is False
    assert found["learning_rate_schedule"]["verdict"] == "linear"
    for diagnosis in found.values():
        assert diagnosis["explanation"].endswith(".")


def test_overfitting_is_found_with_its_onset_and_gap():
    found = by_name(diagnose_run(memory_run(overfitting())))["overfitting"]
    assert found["verdict"] is True
    evidence = found["evidence"]
    assert evidence["onset_epoch"] == 4 and evidence["diverging_evaluations"] == 6 and evidence["ongoing_at_end"]
    assert evidence["eval_loss_change"] == pytest.approx(0.36) and evidence["gap_at_end"] > evidence["gap_at_onset"]
    assert "Overfitting from epoch 4" in found["explanation"]
    assert by_name(diagnose_run(memory_run(overfitting())))["best_vs_last"]["verdict"] == "last_worse"


def test_a_plateau_is_found_after_the_last_real_improvement():
    found = by_name(diagnose_run(memory_run(plateau())))["plateau"]
    assert found["verdict"] is True
    assert (
        found["evidence"]["last_improvement_epoch"] == 4 and found["evidence"]["evaluations_without_improvement"] == 6
    )
    strict = by_name(diagnose_run(memory_run(plateau()), thresholds=Thresholds(plateau_epsilon=0.0)))["plateau"]
    assert strict["evidence"]["evaluations_without_improvement"] < 6


def test_the_learning_rate_schedule_is_read_off_the_samples():
    found = by_name(diagnose_run(memory_run(healthy())))["learning_rate_schedule"]
    evidence = found["evidence"]
    assert found["verdict"] == "linear" and evidence["warmup"] is True
    assert evidence["warmup_steps"] == pytest.approx(15, abs=0.5) and evidence["warmup_epochs"] == pytest.approx(
        1.5, abs=0.05
    )
    assert evidence["peak_lr_estimated"] == pytest.approx(5e-5, rel=0.01)
    assert evidence["expected_warmup_steps"] == pytest.approx(15)
    assert evidence["by_epoch"][9]["epoch"] == 10 and evidence["by_epoch"][9]["learning_rate"] == pytest.approx(
        0.0, abs=1e-12
    )
    assert evidence["matches_config"] is True
    other_peak = by_name(diagnose_run(memory_run(healthy(), request_config=request(learning_rate=1e-4))))[
        "learning_rate_schedule"
    ]
    assert (
        other_peak["evidence"]["matches_config"] is False and "does NOT match the config" in other_peak["explanation"]
    )


def test_schedule_shapes_other_than_linear():
    steps = range(10, 201, 10)
    cosine = [(s, 5e-5 * s / 20 if s < 20 else 5e-5 * 0.5 * (1 + math.cos(math.pi * (s - 20) / 180))) for s in steps]
    assert observe_schedule(cosine)["shape"] == "cosine"
    assert observe_schedule([(s, 3e-5) for s in steps])["shape"] == "constant"
    assert observe_schedule([(s, 5e-5 * 0.7 ** (s / 10)) for s in steps])["shape"] == "other"
    assert observe_schedule([(10, 1e-5), (20, 2e-5)])["shape"] == "unknown"


def test_early_stopping_recorded_and_inferred():
    recorded = by_name(
        diagnose_run(memory_run(early_stopped(), early_stopping_triggered=True, request_config=request(epochs=20)))
    )["early_stopping"]
    assert recorded["verdict"] is True and recorded["evidence"]["source"] == "recorded"
    assert recorded["evidence"]["best_epoch"] == 5 and recorded["evidence"]["epochs_since_best"] == 3
    inferred = by_name(
        diagnose_run(memory_run(early_stopped(), request_config=request(epochs=20), write_results=False))
    )["early_stopping"]
    assert inferred["verdict"] is True and inferred["evidence"]["source"] == "inferred"
    assert "Early stopping triggered at epoch 8 of 20" in recorded["explanation"]


def test_a_weak_label_is_named_and_data_needs_are_not_guessed_without_curves():
    run = memory_run(weak_label())
    found = by_name(diagnose_run(run))
    assert found["weak_labels"]["verdict"] is True
    assert [r["label"] for r in found["weak_labels"]["evidence"]["weak"]] == ["DATE"]
    assert found["weak_labels"]["explanation"].startswith("DATE is the weakest label")
    needs = found["data_needs"]
    assert needs["verdict"] is None and needs["evidence"]["method"] == "none" and needs["evidence"]["ranking"] == []
    assert needs["explanation"].startswith("Not measured")


def curve_point(size: int, seed: int, f1: dict[str, float], examples: dict[str, int]) -> CurvePoint:
    return CurvePoint(f"job-{size}-{seed}", f"run-{size}", "v1", size, seed, f1, examples)


def test_data_needs_rank_labels_on_their_own_measured_curves():
    points = [
        curve_point(25, 1, {"DATE": 0.40, "AMOUNT": 0.90}, {"DATE": 10, "AMOUNT": 100}),
        curve_point(50, 1, {"DATE": 0.55, "AMOUNT": 0.91}, {"DATE": 20, "AMOUNT": 200}),
        curve_point(100, 1, {"DATE": 0.70, "AMOUNT": 0.905}, {"DATE": 40, "AMOUNT": 400}),
    ]
    ranked = {r["label"]: r for r in rank_labels(CurveSeries("data_curve", tuple(points)), min_gain=0.02)}
    assert ranked["DATE"]["verdict"] == "rising" and ranked["DATE"]["gain_per_doubling"] == pytest.approx(0.15)
    assert ranked["AMOUNT"]["verdict"] == "flat" and ranked["AMOUNT"]["gain"] == pytest.approx(-0.005)
    assert [p["train_examples"] for p in ranked["DATE"]["points"]] == [10, 20, 40]
    assert ranked["DATE"]["expected_gain"] is None  # measured, never extrapolated
    assert [r["label"] for r in rank_labels(CurveSeries("data_curve", tuple(points)), 0.02)] == ["DATE", "AMOUNT"]
    # a gain smaller than the spread of seeds at one size is noise, not a rising curve
    noisy = [*points, curve_point(100, 2, {"DATE": 0.50, "AMOUNT": 0.9}, {"DATE": 40, "AMOUNT": 400})]
    date = next(r for r in rank_labels(CurveSeries("data_curve", tuple(noisy)), 0.02) if r["label"] == "DATE")
    assert date["noise"] == pytest.approx(0.2) and date["verdict"] == "flat"
    one_size = rank_labels(CurveSeries("data_curve", tuple(points[:1])), 0.02)
    assert {r["verdict"] for r in one_size} == {"not_measured"}
    none = rank_labels(
        CurveSeries("data_curve", (curve_point(25, 1, {"TIME": 0.0}, {}), curve_point(50, 1, {"TIME": 0.0}, {}))), 0.02
    )
    assert none[0]["verdict"] == "no_examples"


def test_monitor_frame_estimates_the_finish_from_steps_per_second():
    curves = healthy()
    run = memory_run(
        Curves(
            curves.train_loss[:3],
            curves.eval_loss[:3],
            curves.f1[:3],
            curves.lr[:3],
            {k: v[:3] for k, v in curves.label_f1.items()},
        ),
        finished=False,
        request_config=request(epochs=10),
    )
    evaluated = datetime.fromisoformat(run.last.timestamp)
    frame = monitor_frame(run, now=evaluated + timedelta(seconds=5))
    validate(frame, "run_monitor")
    assert frame["finished"] is False and frame["epoch"] == 3 and frame["max_steps"] == 100
    assert frame["eta_seconds"] == pytest.approx(70 / 2.0 - 5, abs=0.01)
    assert monitor_frame(None)["job"] is None


def test_json_schemas_are_valid_draft_2020_12():
    names = sorted(p.stem for p in Path(SCHEMAS).glob("*.json"))
    assert names == [
        "data_curve",
        "dataset_stats",
        "export_summary",
        "model_package",
        "next_run",
        "predict_summary",
        "review_queues",
        "review_summary",
        "run_monitor",
        "run_plot",
        "run_plots",
        "run_report",
        "run_show",
        "runs_compare",
        "runs_explain",
        "runs_history",
        "runs_list",
        "snapshot_diff",
        "snapshot_list",
        "sweep_report",
    ]
    for name in names:
        jsonschema.Draft202012Validator.check_schema(json.loads((SCHEMAS / f"{name}.json").read_text()))


def test_the_trainer_writes_the_report_from_its_recorder(tmp_path):
    recorder = MemoryRecorder(str(uuid.uuid4()))
    record_run(recorder, overfitting())
    report = write_run_report_from_recorder(recorder, tmp_path, plots=False)
    validate(json.loads((tmp_path / "run_report.json").read_text()), "run_report")
    assert by_name(report["diagnoses"])["overfitting"]["verdict"] is True and report["plots"] == []

    # what ranks other than 0 record through
    assert write_run_report_from_recorder(NullRecorder("rank-1"), tmp_path / "other") is None


def test_legacy_rows_without_a_step_join_the_evaluation_of_their_epoch():
    recorder = MemoryRecorder(str(uuid.uuid4()))
    recorder.open(Job(job_id=recorder.job_id, name="mixed", created_at="2025-10-01T00:00:00+00:00"))
    recorder.metrics({"val_f1": 0.5, "eval_loss": 0.9}, epoch=1, step=12)
    recorder.metrics({"label_DATE_f1": 0.4, "label_DATE_support": 7}, epoch=1)
    run = RunData.from_records(recorder.job, recorder.metric_records)
    assert len(run.evaluations) == 1
    assert run.evaluations[0].step == 12 and run.evaluations[0].per_label["DATE"] == {
        "f1": 0.4,
        "precision": None,
        "recall": None,
        "support": 7,
    }


def test_a_failed_run_shows_its_error_and_says_early_stopping_could_not_decide():
    recorder = MemoryRecorder(str(uuid.uuid4()))
    curves = healthy()
    record_run(
        recorder,
        Curves(curves.train_loss[:2], curves.eval_loss[:2], curves.f1[:2], curves.lr[:2]),
        finished=False,
        request_config=request(),
    )
    recorder.log(
        {"type": "error", "error": "RuntimeError: CUDA out of memory"}, level="ERROR", exception="Traceback ..."
    )
    recorder.status("failed", message="RuntimeError: CUDA out of memory")
    run = RunData.from_records(recorder.job, recorder.metric_records, recorder.logs, recorder.statuses)
    assert "was failed at epoch 2 of 10" in by_name(diagnose_run(run))["early_stopping"]["explanation"]
    shown = show_payload(run, SnapshotInfo("v1", None, None).to_dict())
    validate(shown, "run_show")
    assert shown["problems"] == [
        {
            "timestamp": recorder.logs[-1].timestamp,
            "level": "ERROR",
            "type": "error",
            "message": "RuntimeError: CUDA out of memory",
        }
    ]
    assert shown["status_history"][-1]["status"] == "failed"
