"""Package boundaries the design promises: who writes to DynamoDB, who may import torch,
and that `--help` does not pay for heavy imports."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from importlib import metadata

from tests.conftest import REPO_ROOT

WRITE_CALL = re.compile(r"\.(put_item|batch_write_item|update_item|delete_item|transact_write_items|batch_writer)\(")
WRITE_NAMES = {
    "put_item",
    "batch_write_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_writer",
    "PutItem",
    "BatchWriteItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
}
"""DynamoDB write operations, as methods and as the API names `_make_api_call` takes."""


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


def test_no_write_is_dispatched_by_name_outside_metrics_store():
    """`getattr(client, "put_item")(...)` or `client._make_api_call("PutItem", ...)` pass the
    call regex; a write operation's name as a string or attribute anywhere is caught here."""
    offenders = []
    for path in _python_files("packages", "bench", "scripts", "tests"):
        rel = path.relative_to(REPO_ROOT)
        if "metrics_store" in rel.parts[:2] or path.name == "test_boundaries.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(rel))):
            name = (
                node.value
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
                else node.attr
                if isinstance(node, ast.Attribute)
                else None
            )
            if name in WRITE_NAMES:
                offenders.append(f"{rel}:{node.lineno}: {name}")
    assert offenders == []


def test_reading_a_snapshot_needs_no_great_expectations():
    """The trainer installs dataset_builder without the `contracts` extra: opening and reading
    a snapshot must work with Great Expectations (and its YAML reader) absent."""
    requires = metadata.requires("receipt-ml-dataset-builder") or []
    gx = [r for r in requires if r.lower().startswith(("great-expectations", "great_expectations", "ruamel"))]
    assert gx and all('extra == "contracts"' in r for r in gx), gx
    assert not any(
        r.lower().startswith(("great-expectations", "great_expectations"))
        for r in metadata.requires("receipt-ml-trainer") or []
    )
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('great_expectations', 'ruamel'): raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from dataset_builder.snapshot import open_snapshot\n"
        "snap = open_snapshot('tests/fixtures/snapshots_v1', 'v1')\n"
        "assert snap.words.height > 0 and snap.label_list\n"
        "import dataset_builder.diff, trainer.analysis.lineage\n"
        "assert 'great_expectations' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, capture_output=True)


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
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
        heavy = {
            "torch",
            "transformers",
            "great_expectations",
            "polars",
            "matplotlib",
            "onnx",
            "onnxruntime",
            "onnxscript",
            "optuna",
            "sklearn",
            "yaml",
            "cleanlab",
        } & modules
        assert heavy == set(), f"{cli} imports {heavy} before any command runs"


def test_trainer_fit_rejects_bad_input_before_importing_torch(dynamodb_endpoint, tmp_path):
    """A bad option, a missing table, a closed port or a missing snapshot fails before torch
    or the data are loaded (the reason it fails in about a second)."""
    cases = [
        ["--table", "no-such-table", "--endpoint-url", dynamodb_endpoint],
        ["--endpoint-url", "http://127.0.0.1:9"],
        ["--lr", "nan", "--endpoint-url", dynamodb_endpoint],
        ["--job-name", "../escape", "--endpoint-url", dynamodb_endpoint],
    ]
    for args in cases:
        code = (
            "import sys\n"
            "from trainer.cli import app\n"
            f"try:\n    app(['fit', '--model', 'tiny', '--root', {str(tmp_path)!r}, *{args!r}])\n"
            "except SystemExit as exc:\n    print(exc.code, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1"},
        )
        assert out.stdout.split() == ["2", "False", "False"], (args, out.stdout, out.stderr)
