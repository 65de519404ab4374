"""`trainer mcp` through the SDK's own client over stdio, on the planted table (conftest.py):
every tool has input and output schemas and answers with exactly the JSON of its `--json`
command; long answers are paged, never cut; bad arguments are protocol errors without a
traceback; domain errors are one line an agent can act on; the server writes nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metrics_store import Queries, Store
from metrics_store.writer import PendingWrite, spool
from tests.trainer.test_runs_builders import validate

from .client import McpClient, cli_json, server_env, steady

TOOLS = {"dataset_stats", "snapshots_list", "snapshot_show", "snapshot_diff", "runs_list", "run_show", "run_report", "run_plots",
         "runs_compare", "runs_explain", "runs_history", "runs_monitor", "sweep_report", "review_queues", "what_next"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(planted, tmp_path_factory):
    errlog = tmp_path_factory.mktemp("server") / "stderr.txt"
    with McpClient(server_env(planted.config), "--root", str(planted.root), errlog=errlog) as client:
        client.errlog = errlog
        yield client


def item_count(table) -> int:
    total, start = 0, None
    while True:
        page = table.client.scan(TableName=table.name, Select="COUNT", **({"ExclusiveStartKey": start} if start else {}))
        total += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return total


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_the_tools_are_listed_with_schemas_and_marked_read_only(server):
    tools = {t.name: t for t in server.list_tools()}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.input_schema["type"] == "object" and tool.input_schema["additionalProperties"] is False
        assert tool.output_schema and tool.output_schema["type"] == "object"
        assert tool.annotations.read_only_hint is True and tool.annotations.destructive_hint is False
        assert "Same JSON as `" in tool.description
    assert tools["run_show"].input_schema["required"] == ["job"] and "cursor" in tools["runs_list"].input_schema["properties"]


def test_every_tool_answers_with_its_commands_json(server, planted):
    ids, config, root = planted.ids, planted.config, str(planted.root)
    cases = [
        ("dataset_stats", {}, ("dsb", "stats"), "dataset_stats"),
        ("snapshot_show", {"snapshot": "v1"}, ("dsb", "snapshot", "show", "v1", "--root", root), None),
        ("snapshot_diff", {"a": "v1", "b": "v2"}, ("dsb", "snapshot", "diff", "v1", "v2", "--root", root), "snapshot_diff"),
        ("runs_list", {}, ("trainer", "runs", "list"), "runs_list"),
        ("runs_list", {"status": ["succeeded"], "snapshot": "v1", "min_f1": 0.85, "sort": "created"},
         ("trainer", "runs", "list", "--status", "succeeded", "--snapshot", "v1", "--min-f1", "0.85", "--sort", "created"), "runs_list"),
        ("run_show", {"job": "base", "epoch": 5}, ("trainer", "runs", "show", "base", "--epoch", "5"), "run_show"),
        ("run_report", {"job": ids["overfit"][:8]}, ("trainer", "runs", "report", ids["overfit"][:8]), "run_report"),
        ("runs_compare", {"jobs": ["base", "batch8-a", "overfit"]}, ("trainer", "runs", "compare", "base", "batch8-a", "overfit"),
         "runs_compare"),
        ("runs_explain", {"job_a": "base", "job_b": "overfit"}, ("trainer", "runs", "explain", "base", "overfit"), "runs_explain"),
        ("runs_history", {"group_by": "batch_size"}, ("trainer", "runs", "history", "--group-by", "batch_size"), "runs_history"),
        ("runs_monitor", {}, ("trainer", "runs", "monitor"), "run_monitor"),
        ("runs_monitor", {"job": "early"}, ("trainer", "runs", "monitor", "--job", "early"), "run_monitor"),
        ("what_next", {}, ("trainer", "runs", "next"), "next_run"),
        ("what_next", {"snapshot": "v1"}, ("trainer", "runs", "next", "--snapshot", "v1"), "next_run"),
    ]
    for tool, arguments, command, schema in cases:
        result = server.call(tool, arguments)
        assert not result.is_error, (tool, result.content[0].text)
        expected = cli_json(config, *command)
        assert steady(result.structured_content) == steady(expected), tool
        assert json.loads(result.content[0].text) == result.structured_content  # the same JSON as text, for clients without structure
        if schema:
            validate(result.structured_content, schema)
    listed = server.structured("snapshots_list")
    assert listed["snapshots"] == cli_json(config, "dsb", "snapshot", "list", "--root", root)
    assert [s["id"] for s in listed["snapshots"]] == ["v1", "v2"] and all(s["recorded"] for s in listed["snapshots"])


def test_run_plots_come_back_as_the_images_trainer_runs_plot_draws(server, planted, tmp_path):
    result = server.call("run_plots", {"job": "overfit"})
    assert not result.is_error
    validate(result.structured_content, "run_plots")
    images = [c for c in result.content if c.type == "image"]
    assert [c.mime_type for c in images] == ["image/png", "image/png"]
    from trainer.cli import app

    written = CliRunner().invoke(app, ["runs", "plot", "overfit", "--out", str(tmp_path), "--json"], env=server_env(planted.config))
    assert written.exit_code == 0, written.output
    for plot, image in zip(result.structured_content["plots"], images, strict=True):
        data = base64.b64decode(image.data)
        assert data.startswith(PNG_MAGIC) and len(data) == plot["bytes"]
        assert data == (tmp_path / plot["name"]).read_bytes()


def test_long_answers_are_paged_with_a_cursor_not_cut(server, planted):
    expected = cli_json(planted.config, "trainer", "runs", "list")["runs"]
    pages, arguments = [], {"page_size": 4}
    while True:
        answer = server.structured("runs_list", arguments)
        pages.append(answer)
        if not answer["page"]["next_cursor"]:
            break
        arguments = {"page_size": 4, "cursor": answer["page"]["next_cursor"]}
    assert [len(p["runs"]) for p in pages] == [4, 4, 1] and pages[0]["page"]["total"] == len(expected) == 9
    assert steady([r for p in pages for r in p["runs"]]) == steady(expected)
    history = server.structured("runs_history", {"page_size": 5})
    assert history["total_runs"] == 9 and len(history["runs"]) == 5 and history["page"]["next_cursor"]
    foreign = server.call  # a cursor is only good for the question it was made for
    with pytest.raises(Exception) as raised:
        foreign("runs_list", {"cursor": history["page"]["next_cursor"]})
    assert raised.value.error.code == -32602 and "runs_history" in raised.value.error.message


def test_bad_arguments_are_protocol_errors_without_a_traceback(server):
    from mcp.shared.exceptions import MCPError

    bad = [("run_show", {}, "'job' is a required property"), ("run_show", {"job": 3}, "3 is not of type 'string'"),
           ("runs_list", {"min_f1": "high"}, "'high' is not of type 'number'"), ("runs_list", {"sort": "f1"}, "is not one of"),
           ("runs_compare", {"jobs": ["base"]}, "is too short"), ("runs_list", {"colour": "red"}, "Additional properties"),
           ("review_queues", {"review": "x", "top": 0}, "less than the minimum"), ("no_such_tool", {}, "no tool 'no_such_tool'"),
           ("runs_list", {"cursor": "not-a-cursor"}, "is not one runs_list gave")]
    for tool, arguments, message in bad:
        with pytest.raises(MCPError) as raised:
            server.call(tool, arguments)
        assert raised.value.error.code == -32602, (tool, raised.value.error)
        assert message in raised.value.error.message and "Traceback" not in raised.value.error.message, raised.value.error.message
    assert "Traceback" not in server.errlog.read_text()


def test_an_unknown_job_names_the_closest_ones(server, planted):
    result = server.call("run_report", {"job": "batch8-c"})
    assert result.is_error and result.structured_content is None
    text = result.content[0].text
    assert text.startswith("error: no job 'batch8-c' in the table; closest: ") and "Traceback" not in text
    assert f"{planted.ids['batch8-a']} (batch8-a, succeeded)" in text and f"{planted.ids['batch8-b']} (batch8-b" in text
    prefix = server.call("run_show", {"job": planted.ids["early"][:6] + "zz"})
    assert prefix.is_error and planted.ids["early"] in prefix.content[0].text
    missing = server.call("snapshot_show", {"snapshot": "v9"})
    assert missing.is_error and "v9" in missing.content[0].text


def test_a_table_that_is_down_is_one_line_naming_the_endpoint(planted):
    down = "http://127.0.0.1:9"
    with McpClient(server_env(planted.config, AWS_ENDPOINT_URL_DYNAMODB=down), "--root", str(planted.root)) as client:
        assert len(client.list_tools()) == len(TOOLS)  # the server starts; each call says why it cannot answer
        result = client.call("runs_list", {})
    assert result.is_error
    assert result.content[0].text == f"error: cannot reach DynamoDB at {down}: start DynamoDB Local with `mstore local start`"


def test_the_server_writes_nothing_not_even_the_records_a_run_left_waiting(server, planted, tmp_path):
    queries = Queries(planted.table)
    waiting = queries.get_job(planted.ids["running"])
    folder = tmp_path / "running-run"
    folder.mkdir()
    Store(planted.table).jobs.update_job(waiting.job_id, storage={"output_dir": str(folder)})
    spool(folder / "pending-records.jsonl", [PendingWrite("description", waiting.job_id, update={"description": "written from the spool"})])
    items, snapshots = item_count(planted.table), tree_digest(planted.root.parent)
    calls = [("dataset_stats", {}), ("snapshots_list", {}), ("snapshot_show", {}), ("snapshot_diff", {"a": "v1"}), ("runs_list", {}),
             ("run_show", {"job": "running"}), ("run_report", {"job": "running"}), ("run_plots", {"job": "running"}),
             ("runs_compare", {"jobs": ["running", "base"]}), ("runs_explain", {"job_a": "base", "job_b": "running"}),
             ("runs_history", {}), ("runs_monitor", {}), ("what_next", {})]
    for tool, arguments in calls:
        assert not server.call(tool, arguments).is_error, tool
    server.read_resource("receipt-ml://agent-context")
    assert item_count(planted.table) == items and tree_digest(planted.root.parent) == snapshots
    assert (folder / "pending-records.jsonl").is_file() and queries.get_job(waiting.job_id).description == ""
    # the CLI, on the other hand, writes them at this contact: the check above could have failed
    cli_json(planted.config, "trainer", "runs", "show", "running")
    assert queries.get_job(waiting.job_id).description == "written from the spool"
    assert not (folder / "pending-records.jsonl").exists()


def test_the_connection_itself_refuses_writes():
    from metrics_store import StoreConfig, connect
    from metrics_store.read_only import ReadOnlyViolation, read_only
    from trainer.mcp.session import SERVER_OPERATIONS

    table = read_only(connect(StoreConfig(table="nowhere", endpoint_url="http://127.0.0.1:9", region="us-east-1")), SERVER_OPERATIONS)
    with pytest.raises(ReadOnlyViolation, match="refused: this connection to table 'nowhere' is read-only"):
        Store(table).jobs.update_job("some-job", description="x")


def test_resources_give_the_agent_context_and_each_runs_report(server, planted):
    uris = [str(r.uri) for r in server.list_resources()]
    assert uris[0] == "receipt-ml://agent-context" and f"receipt-ml://runs/{planted.ids['running']}/report" in uris
    assert [t.uri_template for t in server.list_resource_templates()] == ["receipt-ml://runs/{job}/report"]
    context = server.read_resource("receipt-ml://agent-context").contents[0]
    assert context.mime_type == "text/markdown"
    text = context.text
    for heading in ("## 1. Infrastructure", "## 2. Current training configuration", "## 3. Training history", "## 4. Dataset statistics",
                    "## 5. Active runs"):
        assert heading in text
    assert f"table: `{planted.config.table}`" in text and f"snapshot root: `{planted.root}`" in text and "model cache: `" in text
    assert "latest succeeded run: early" in text and "trainer fit --snapshot v1" in text
    assert "latest snapshot v2" in text and "running (`" in text and "epoch 3.0 of 10" in text
    report = server.read_resource(f"receipt-ml://runs/{planted.ids['early']}/report").contents[0]
    assert json.loads(report.text) == json.loads(json.dumps(cli_json(planted.config, "trainer", "runs", "report", "early")))


def test_prompts_walk_the_guides_workflows(server):
    from mcp.shared.exceptions import MCPError

    assert [p.name for p in server.list_prompts()] == ["diagnose_run", "improve_f1", "faster_training"]
    text = server.get_prompt("improve_f1", {"target_f1": "0.65", "current_f1": "0.56"}).messages[0].content.text
    assert "My val F1 is 0.56; I want 0.65" in text and "`what_next`" in text
    with pytest.raises(MCPError, match="needs job"):
        server.get_prompt("diagnose_run", {})


def test_over_streamable_http_a_client_lists_the_tools_and_finds_the_weakest_label_of_the_latest_run(planted):
    import socket
    import subprocess
    import sys
    import time

    from metrics_store.local import free_port
    from tests.conftest import REPO_ROOT

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "trainer.cli", "mcp", "--http", f"127.0.0.1:{port}", "--root", str(planted.root)],
                              env=server_env(planted.config), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stderr.read()
            time.sleep(0.2)
        with McpClient({}, url=f"http://127.0.0.1:{port}/mcp") as client:
            assert {t.name for t in client.list_tools()} == TOOLS
            latest = client.structured("runs_list", {"sort": "created", "status": ["succeeded"], "limit": 1})["runs"][0]
            report = client.structured("run_report", {"job": latest["job_id"]})
    finally:
        server.terminate()
        server.wait(timeout=30)
    weakest = {d["name"]: d for d in report["diagnoses"]}["weak_labels"]["evidence"]["weakest"][0]
    assert latest["name"] == "early" and weakest == report["best"]["labels"][0]


def test_the_readme_names_exactly_the_iam_actions_the_connection_allows():
    import re

    from tests.conftest import REPO_ROOT
    from trainer.mcp.session import SERVER_OPERATIONS

    prose, rest = (REPO_ROOT / "README.md").read_text().split("**IAM.**", 1)[1].split("```json", 1)
    named = set(re.findall(r"`dynamodb:(\w+)`", prose))
    policy = set(re.findall(r'"dynamodb:(\w+)"', rest.split("```", 1)[0]))
    assert named == policy == set(SERVER_OPERATIONS)


def test_a_run_that_finishes_while_the_server_runs_is_read_afresh(server, planted):
    from metrics_store import DynamoRecorder
    from tests.trainer.test_runs_builders import healthy, record_run

    from .conftest import label_curves, lineage

    curves = healthy()
    curves.train_loss, curves.eval_loss, curves.f1, curves.lr = curves.train_loss[:2], curves.eval_loss[:2], curves.f1[:2], curves.lr[:2]
    job_id = record_run(DynamoRecorder(planted.table, str(uuid.uuid4())), label_curves(curves, ["DATE"], {}),
                        name="late", snapshot=lineage(planted.snapshots["base"]), finished=False)
    before = server.structured("run_show", {"job": job_id})
    assert before["job"]["status"] == "running" and len(before["epochs"]) == 2
    recorder = DynamoRecorder(planted.table, job_id)
    recorder.metrics({"val_f1": 0.9, "eval_loss": 0.3, "train_loss": 0.2, "label_DATE": {"f1": 0.9, "support": 30}}, epoch=3.0, step=30)
    recorder.status("succeeded", progress=100.0)
    recorder.close()
    after = server.structured("run_show", {"job": job_id})
    assert after["job"]["status"] == "succeeded" and len(after["epochs"]) == 3 and after["best"]["best_f1"] == 0.9
    assert steady(server.structured("run_show", {"job": job_id})) == steady(after) == steady(cli_json(planted.config, "trainer", "runs", "show", job_id))
