"""Run the suites on the contract frames with Great Expectations and turn its results into
the report stamped in the manifest (schema: docs/contracts.md)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import polars as pl

from metrics_store.keys import utc_now_iso

from .frames import CONTEXT, FRAME_KEYS
from .gx import ephemeral_context, great_expectations
from .suites import ContractError, ContractExpectation, ContractSuite, contracts_sha256

OBSERVED_KEYS = ("element_count", "unexpected_count", "unexpected_percent", "missing_count", "observed_value")


def jsonable(value: Any) -> Any:
    """Great Expectations' results carry numpy scalars, NaN and tuples; the report is JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _column_label(e: ContractExpectation) -> str | None:
    if "column_A" in e.kwargs:
        return f"{e.kwargs['column_A']},{e.kwargs['column_B']}"
    return ",".join(e.columns) or None


def _result(
    e: ContractExpectation,
    *,
    success: bool,
    skipped: str | None = None,
    observed: dict | None = None,
    rows: list | None = None,
) -> dict[str, Any]:
    return {
        "suite": e.suite,
        "expectation": e.type,
        "frame": e.frame,
        "column": _column_label(e),
        "kwargs": e.kwargs,
        "severity": e.severity,
        "success": success,
        "skipped": skipped,
        "notes": e.notes,
        "observed": observed or {},
        "failing_rows": rows or [],
    }


def _skip_reason(e: ContractExpectation, parameters: dict[str, Any], unavailable: dict[str, str]) -> str | None:
    if e.frame in unavailable:
        return unavailable[e.frame]
    unset = [p for p in e.parameters if parameters.get(p) is None]
    return f"parameter {', '.join(unset)} not set" if unset else None


def _failing_rows(frame: pl.DataFrame, e: ContractExpectation, indices: list[int]) -> list[dict[str, Any]]:
    wanted = [*FRAME_KEYS[e.frame], *e.columns, *(c for col in e.columns for c in CONTEXT.get(col, []))]
    columns = [c for c in dict.fromkeys(wanted) if c in frame.columns]
    rows = [i for i in indices if isinstance(i, int) and 0 <= i < frame.height]
    return jsonable(frame[rows].select(columns).to_dicts()) if rows and columns else []


def _observed(result: Any) -> dict[str, Any]:
    observed = {k: result.result[k] for k in OBSERVED_KEYS if k in result.result}
    if result.result.get("partial_unexpected_counts"):
        observed["unexpected_values"] = result.result["partial_unexpected_counts"]
    messages = [
        info.get("exception_message")
        for info in (result.exception_info or {}).values()
        if isinstance(info, dict) and info.get("raised_exception")
    ]
    if result.exception_info and result.exception_info.get("raised_exception"):
        messages.append(result.exception_info.get("exception_message"))
    if messages:
        observed["exception"] = "; ".join(dict.fromkeys(m for m in messages if m))
    return jsonable(observed)


def _validate(
    context: Any,
    name: str,
    frame: pl.DataFrame,
    expectations: list[ContractExpectation],
    parameters: dict[str, Any],
    max_failing_rows: int,
) -> dict[int, Any]:
    """One Great Expectations validation of one frame; results keyed by contract index."""
    gx = great_expectations()
    batch = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe(name)
        .get_batch(batch_parameters={"dataframe": frame.to_pandas()})
    )
    suite = gx.ExpectationSuite(name=name, expectations=[e.to_gx() for e in expectations])
    used = {p: parameters[p] for e in expectations for p in e.parameters}
    validation = batch.validate(
        suite,
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": max_failing_rows},
        expectation_parameters=used,
    )
    results = {r.expectation_config.meta["contract_index"]: r for r in validation.results}
    if len(results) != len(expectations):
        raise ContractError(
            f"{name}: Great Expectations returned {len(results)} results for {len(expectations)} expectations"
        )
    return results


def run_suites(
    suites: list[ContractSuite],
    frames: dict[str, pl.DataFrame],
    parameters: dict[str, Any],
    *,
    unavailable: dict[str, str],
    max_failing_rows: int,
) -> list[dict[str, Any]]:
    """Every expectation of every suite, in file order: passed, failed or skipped."""
    context = ephemeral_context()
    results: list[dict[str, Any]] = []
    for suite in suites:
        by_frame: dict[str, list[ContractExpectation]] = defaultdict(list)
        skipped = {}
        for e in suite.expectations:
            reason = _skip_reason(e, parameters, unavailable)
            if reason:
                skipped[e.index] = reason
            else:
                by_frame[e.frame].append(e)
        outcomes = {}
        for frame_name, expectations in by_frame.items():
            outcomes.update(
                _validate(
                    context,
                    f"{suite.name}.{frame_name}",
                    frames[frame_name],
                    expectations,
                    parameters,
                    max_failing_rows,
                )
            )
        for e in suite.expectations:
            if e.index in skipped:
                results.append(_result(e, success=True, skipped=skipped[e.index]))
                continue
            outcome = outcomes[e.index]
            rows = (
                []
                if outcome.success
                else _failing_rows(frames[e.frame], e, outcome.result.get("partial_unexpected_index_list") or [])
            )
            results.append(_result(e, success=bool(outcome.success), observed=_observed(outcome), rows=rows))
    return results


def overall_status(results: list[dict[str, Any]]) -> str:
    failed = [r for r in results if not r["success"]]
    if any(r["severity"] == "error" for r in failed):
        return "failed"
    return "warned" if failed else "passed"


def build_report(
    suites: list[ContractSuite], results: list[dict[str, Any]], drift: dict[str, Any], parent_id: str | None
) -> dict[str, Any]:
    drift_results = [r for r in results if r["frame"] == "drift"]
    if drift.get("status") == "checked":
        drift = {**drift, "status": overall_status(drift_results)}
    return {
        "status": overall_status(results),
        "checked_at": utc_now_iso(),
        "contracts_sha256": contracts_sha256(suites),
        "parent_id": parent_id,
        "suites": {
            s.name: {
                "expectations": len(s.expectations),
                "failed": sum(1 for r in results if r["suite"] == s.name and not r["success"]),
                "skipped": sum(1 for r in results if r["suite"] == s.name and r["skipped"]),
            }
            for s in suites
        },
        "results": results,
        "drift": drift,
    }
