"""The shared command-line edge: help that survives a pipe, tables that never cut a key, and
one error map whose every entry names a real class."""

from __future__ import annotations

import importlib
import re
import uuid

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from cli_edge import EXIT_CODES, Column, exit_code_for, key_table, run_or_exit, short_id, short_time

CLIS = ("metrics_store.cli", "dataset_builder.cli", "trainer.cli")


def _commands(group, path: tuple[str, ...] = ()):
    yield path, group
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))


@pytest.mark.parametrize("module", CLIS)
def test_every_option_name_is_whole_in_help_at_80_columns(module):
    app = importlib.import_module(module).app
    root = typer.main.get_command(app)
    runner = CliRunner()
    checked = 0
    for path, command in _commands(root):
        result = runner.invoke(app, [*path, "--help"], terminal_width=80, env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
        assert result.exit_code == 0, (path, result.output)
        assert "…" not in result.output, (path, result.output)
        assert max(len(line) for line in result.output.splitlines()) <= 100, path
        for param in command.params:
            if getattr(param, "hidden", False):
                continue  # an old spelling kept working (e.g. fit --random-batches) but not advertised
            for name in [*param.opts, *param.secondary_opts]:
                if name.startswith("--"):
                    assert re.search(rf"(^|[\s,/\[]){re.escape(name)}(?![\w-])", result.output, re.M), (path, name)
                    checked += 1
    assert checked > 10


def test_a_table_never_cuts_its_keys_and_drops_columns_to_fit():
    job_id = str(uuid.uuid4())
    rows = [[job_id, "a-rather-long-job-name-for-a-run", "succeeded", "v12", 0.7123, 7, "2026-12-01T10:00:00"]]
    columns = [
        Column("job", key=True),
        Column("name"),
        Column("status"),
        Column("snapshot", drop=1),
        Column("best f1"),
        Column("epoch", drop=2),
        Column("created", drop=3),
    ]
    out = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    out.print(key_table("runs", columns, rows))
    text = out.export_text()
    assert job_id in text  # whole, on one line
    assert "left out for width:" in text and "created" in text.split("left out for width:")[1]
    assert max(len(line) for line in text.splitlines()) <= 80
    wide = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    wide.print(key_table("runs", columns, rows))
    assert "2026-12-01T10:00:00" in wide.export_text() and "left out" not in wide.export_text()


def test_a_status_or_a_date_is_never_wrapped_and_long_ids_are_shown_short():
    rows = [
        [
            short_id(str(uuid.uuid4())),
            "a-rather-long-job-name-for-a-run-of-the-receipts",
            "interrupted",
            "v12",
            0.7123,
            short_time("2026-12-01T10:00:00.123+00:00"),
        ]
    ] * 3
    columns = [
        Column("job", key=True),
        Column("name"),
        Column("status", whole=True),
        Column("snapshot", drop=1),
        Column("best f1"),
        Column("created", whole=True, drop=2),
    ]
    out = Console(width=60, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    out.print(key_table("runs", columns, rows))
    text = out.export_text()
    assert text.count("interrupted") == 3 and len(rows[0][0]) == 8 and rows[0][0] in text
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "created" in text.split("left out for width:")[1]  # a date that does not fit leaves whole, never broken
    wide = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    wide.print(key_table("runs", columns, rows))
    assert wide.export_text().count("2026-12-01 10:00") == 3


def test_every_mapped_error_names_a_class_and_unmapped_errors_stay_bugs():
    for qualified, code in EXIT_CODES.items():
        module, _, name = qualified.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert isinstance(cls, type) and issubclass(cls, BaseException) and code in (1, 2), qualified
        # matched by the class's own module and name: an entry naming a re-export would never match
        assert f"{cls.__module__}.{cls.__qualname__}" == qualified, (
            f"{qualified} is {cls.__module__}.{cls.__qualname__}"
        )
    from dataset_builder import DatasetBuilderError
    from dataset_builder.manifest import ManifestError
    from dataset_builder.receipts.jsonl import LabelMapError
    from trainer.errors import ConfigError as TrainerConfigError

    assert exit_code_for(TrainerConfigError("--lr: bad")) == 2 and exit_code_for(ManifestError("x")) == 2
    assert exit_code_for(LabelMapError("x")) == 2 and issubclass(LabelMapError, DatasetBuilderError)
    from dataset_builder import ConfigError, SnapshotCorrupted

    assert exit_code_for(ConfigError("x")) == 2 and exit_code_for(SnapshotCorrupted("x")) == 1
    assert exit_code_for(ValueError("a bug")) is None
    with pytest.raises(typer.Exit) as stopped:
        run_or_exit(lambda: (_ for _ in ()).throw(ConfigError("--seed: bad")))
    assert stopped.value.exit_code == 2
    with pytest.raises(KeyError):
        run_or_exit(lambda: {}["missing"])
