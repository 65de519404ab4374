"""docs/cli/*.md are generated from the CLIs; they must say what the CLIs do today."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CLIS = {"mstore": "metrics_store.cli", "dsb": "dataset_builder.cli", "trainer": "trainer.cli"}


@pytest.mark.parametrize("name", sorted(CLIS))
def test_cli_reference_is_current(name, tmp_path):
    out = tmp_path / f"{name}.md"
    subprocess.run(
        [Path(sys.executable).parent / "typer", CLIS[name], "utils", "docs", "--name", name, "--output", str(out)],
        check=True,
        capture_output=True,
        cwd=REPO_ROOT,
    )
    committed = REPO_ROOT / "docs" / "cli" / f"{name}.md"
    assert committed.read_text() == out.read_text(), f"docs/cli/{name}.md is stale: run `bash scripts/cli_docs.sh`"
