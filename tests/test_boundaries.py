"""Package boundaries the design promises: who writes to DynamoDB, who may import torch,
and that `--help` does not pay for heavy imports."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

WRITE_CALL = re.compile(r"\.(put_item|batch_write_item|update_item|delete_item|transact_write_items|batch_writer)\(")


def _python_files(*roots: str):
    for root in roots:
        yield from (p for p in (REPO_ROOT / root).rglob("*.py") if ".venv" not in p.parts)


def test_only_metrics_store_writes_to_dynamodb():
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{n}"
        for path in _python_files("packages", "bench", "scripts", "tests")
        if "metrics_store" not in path.relative_to(REPO_ROOT).parts[:2]
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if WRITE_CALL.search(line) and path.name != "test_boundaries.py"
    ]
    assert offenders == []


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
        check=True, capture_output=True, text=True, cwd=REPO_ROOT,
    ).stdout
    return set(out.split())


def test_dataset_builder_never_imports_torch():
    modules = _imported_after(
        "import importlib, pkgutil, dataset_builder\n"
        "for m in pkgutil.walk_packages(dataset_builder.__path__, 'dataset_builder.'):\n"
        "    importlib.import_module(m.name)"
    )
    assert "torch" not in modules and "transformers" not in modules


def test_cli_help_does_not_import_heavy_libraries():
    for cli in ("metrics_store.cli", "dataset_builder.cli", "trainer.cli"):
        try:
            modules = _imported_after(f"import {cli}")
        except subprocess.CalledProcessError as exc:
            if "No module named 'trainer.cli'" in exc.stderr:
                continue
            raise
        heavy = {"torch", "transformers", "great_expectations", "polars", "matplotlib"} & modules
        assert heavy == set(), f"{cli} imports {heavy} before any command runs"
