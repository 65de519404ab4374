import pytest

from metrics_store import StoreConfig, connect, create_table, table_exists
from metrics_store.local import (
    DynamoDBLocal,
    DynamoLocalError,
    LocalDynamoConfig,
    answers,
    find_jar,
    running_instance,
    start_detached,
    stop_detached,
)
from tests.conftest import REPO_ROOT

INSTALL_DIR = REPO_ROOT / ".local" / "dynamodb"


def test_table_has_the_reference_layout(table):
    described = table.client.describe_table(TableName=table.name)["Table"]
    assert [k["AttributeName"] for k in described["KeySchema"]] == ["PK", "SK"]
    indexes = {
        i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in described["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "GSI1": ["GSI1PK", "GSI1SK"],
        "GSI2": ["GSI2PK", "GSI2SK"],
        "GSI3": ["GSI3PK", "GSI3SK"],
        "GSI4": ["GSI4PK", "GSI4SK"],
        "GSITYPE": ["TYPE"],
    }
    assert all(i["Projection"]["ProjectionType"] == "ALL" for i in described["GlobalSecondaryIndexes"])


def test_create_table_is_idempotent(table):
    assert create_table(table) is False


def test_missing_jar_is_a_clear_error(tmp_path):
    with pytest.raises(DynamoLocalError, match="not installed.*setup.sh"):
        find_jar(tmp_path)


def test_missing_java_is_a_clear_error():
    local = DynamoDBLocal(LocalDynamoConfig(INSTALL_DIR, java="java-that-does-not-exist"))
    with pytest.raises(DynamoLocalError, match="Java not found"):
        local.start()


def test_on_disk_instance_keeps_data_across_restarts(tmp_path):
    state = tmp_path / "state.json"
    config = LocalDynamoConfig(INSTALL_DIR, data_dir=tmp_path / "data")
    first = start_detached(config, state)
    try:
        assert first["reused"] is False
        assert start_detached(config, state)["reused"] is True  # a second start reuses it
        create_table(connect(StoreConfig(table="kept", endpoint_url=first["endpoint_url"])))
    finally:
        assert stop_detached(state)
    assert running_instance(state) is None
    assert not answers(first["endpoint_url"])
    second = start_detached(config, state)
    try:
        assert table_exists(connect(StoreConfig(table="kept", endpoint_url=second["endpoint_url"])))
    finally:
        stop_detached(state)


def test_an_endpoint_that_is_not_dynamodb_is_one_line_naming_it():
    """A web server (or a proxy's error page) at --endpoint-url: no page of HTML."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from metrics_store import NotDynamoDB, StoreConfig, connect, table_exists

    class Page(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = b"<!DOCTYPE html><html><body><h1>Welcome to nginx</h1></body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    try:
        with pytest.raises(NotDynamoDB) as raised:
            table_exists(connect(StoreConfig(table="t", region="us-east-1", endpoint_url=endpoint)))
    finally:
        server.shutdown()
    message = str(raised.value)
    assert endpoint in message and "does not answer like DynamoDB" in message
    assert "<html" not in message and "\n" not in message
