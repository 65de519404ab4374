"""A stand-in for the Hugging Face hub over HTTP (there is none here): it serves one folder as a
model repository in the hub's own protocol (`/<repo>/resolve/<revision>/<file>` with the headers
huggingface_hub reads, 404 `EntryNotFound` for absent files, an empty `/api/models/.../tree`),
so transformers downloads from it exactly as from huggingface.co when HF_ENDPOINT points here."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self, repo_id: str, folder: Path):
        self.repo_id, self.folder = repo_id, folder
        self.downloads: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                hub._serve(self, body=False)

            def do_GET(self) -> None:  # noqa: N802
                hub._serve(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()

    def _serve(self, request: BaseHTTPRequestHandler, *, body: bool) -> None:
        path = request.path.split("?")[0]
        if path.startswith("/api/models/"):
            payload = (
                b"[]"
                if "/tree/" in path
                else json.dumps(
                    {
                        "id": self.repo_id,
                        "sha": COMMIT,
                        "siblings": [{"rfilename": f.name} for f in self.folder.iterdir()],
                    }
                ).encode()
            )
            self._reply(
                request,
                200,
                payload if body else b"",
                {"Content-Type": "application/json", "Content-Length": str(len(payload))},
            )
            return
        prefix = f"/{self.repo_id}/resolve/"
        file = self.folder / path[len(prefix) :].partition("/")[2] if path.startswith(prefix) else None
        if file is None or not file.is_file():
            self._reply(
                request,
                404,
                b"",
                {
                    "X-Error-Code": "EntryNotFound" if file is not None else "RepositoryNotFound",
                    "X-Repo-Commit": COMMIT,
                    "Content-Length": "0",
                },
            )
            return
        data = file.read_bytes()
        if body:
            self.downloads.append(file.name)
        self._reply(
            request,
            200,
            data if body else b"",
            {
                "X-Repo-Commit": COMMIT,
                "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                "Content-Length": str(len(data)),
            },
        )

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str]) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        if data:
            request.wfile.write(data)
