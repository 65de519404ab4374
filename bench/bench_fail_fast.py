"""How long a command takes to refuse input it cannot work with (issue: "failing fast").

Each case runs the real CLI in a fresh process (as a user types it), `--repeat` times, and
reports the median and worst wall time next to the goal (under 2 s) and the figures the
issue measured before the change (a closed port 5-15 s; `trainer fit` 9-15 s to reject a bad
option or a missing table). Nothing heavy happens in any case: that is what is measured.

    .venv/bin/python bench/bench_fail_fast.py --repeat 5
"""

from __future__ import annotations

import argparse
import http.server
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _local import REPO_ROOT, fresh_table, local_endpoint, print_table  # noqa: E402

BIN = Path(sys.executable).parent
GOAL_S = 2.0


class _Html(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = b"<!DOCTYPE html><html><body>not here</body></html>"
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _time(command: list[str], repeat: int, env: dict[str, str]) -> tuple[float, float, int, str]:
    times, code, line = [], 0, ""
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
        times.append(time.perf_counter() - started)
        code, line = done.returncode, (done.stderr.strip().splitlines() or [""])[-1]
    return statistics.median(times), max(times), code, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="Runs per case (median and worst reported).")
    args = parser.parse_args()
    import os

    html = http.server.HTTPServer(("127.0.0.1", 0), _Html)
    threading.Thread(target=html.serve_forever, daemon=True).start()
    with local_endpoint() as endpoint, fresh_table(endpoint) as (config, table):
        from metrics_store import Job, Store

        for day in (1, 2):  # two jobs of one name
            Store(table).jobs.create_job(
                Job(f"5d1c9e2a-0000-4000-8000-00000000000{day}", "twice-named", f"2026-01-0{day}T00:00:00+00:00")
            )
        env = {
            **os.environ,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "RECEIPT_ML_SNAPSHOT_ROOT": "/nonexistent-snapshots",
        }
        fit = [str(BIN / "trainer"), "fit", "--model", "tiny"]
        here = ["--endpoint-url", endpoint, "--table", config.table]
        cases = [
            ("trainer fit: closed port", [*fit, "--endpoint-url", "http://127.0.0.1:9"], "5-15 s"),
            ("trainer fit: missing table", [*fit, "--endpoint-url", endpoint, "--table", "no-such-table"], "9-15 s"),
            ("trainer fit: bad option (--lr nan)", [*fit, *here, "--lr", "nan"], "9-15 s"),
            ("trainer fit: bad --job-name", [*fit, *here, "--job-name", "../x"], "9-15 s (wrote outside --output-dir)"),
            ("trainer fit: missing snapshot", [*fit, *here], "-"),
            (
                "trainer fit: endpoint is a web server",
                [*fit, "--endpoint-url", f"http://127.0.0.1:{html.server_port}"],
                "a page of HTML",
            ),
            ("dsb stats: closed port", [str(BIN / "dsb"), "stats", "--endpoint-url", "http://127.0.0.1:9"], "5-15 s"),
            (
                "dsb snapshot create: missing table",
                [
                    str(BIN / "dsb"),
                    "snapshot",
                    "create",
                    "--skip-contracts",
                    "--endpoint-url",
                    endpoint,
                    "--table",
                    "no-such-table",
                    "--root",
                    "/tmp/fail-fast-snapshots",
                ],
                "-",
            ),
            (
                "trainer runs list: closed port",
                [str(BIN / "trainer"), "runs", "list", "--endpoint-url", "http://127.0.0.1:9"],
                "5-15 s",
            ),
            # the refusals of the reliability issue (figures before: its measurements)
            (
                "trainer fit: --checkpoint-metric foo",
                [*fit, *here, "--checkpoint-metric", "foo"],
                "13 s (a whole epoch, a traceback)",
            ),
            ("trainer fit: --seed -5", [*fit, *here, "--seed", "-5"], "5 s (a traceback)"),
            ("trainer fit: --output-dir /proc/x", [*fit, *here, "--output-dir", "/proc/x"], "5 s (a failed job)"),
            *(
                (
                    f"trainer runs list: --endpoint-url {bad}",
                    [str(BIN / "trainer"), "runs", "list", "--endpoint-url", bad],
                    "160-300 lines",
                )
                for bad in ("notaurl", "http://", "http://127.0.0.1:99999", "ftp://x")
            ),
            (
                "trainer runs show: a name two jobs share",
                [str(BIN / "trainer"), "runs", "show", "twice-named", *here],
                "picked the newest",
            ),
            (
                "dsb receipts generate: missing table",
                [
                    str(BIN / "dsb"),
                    "receipts",
                    "generate",
                    "--n",
                    "1",
                    "--endpoint-url",
                    endpoint,
                    "--table",
                    "no-such-table",
                ],
                "created it, exit 0",
            ),
            (
                "dsb snapshot create: --parent v99",
                [
                    str(BIN / "dsb"),
                    "snapshot",
                    "create",
                    *here,
                    "--parent",
                    "v99",
                    "--root",
                    "/tmp/fail-fast-snapshots",
                ],
                "3.4-3.8 s",
            ),
        ]
        rows, messages = [], []
        for number, (name, command, before) in enumerate(cases, 1):
            median, worst, code, line = _time(command, args.repeat, env)
            rows.append(
                [f"{number}. {name}", f"{median:.2f}", f"{worst:.2f}", "yes" if worst < GOAL_S else "NO", code, before]
            )
            messages.append(f"{number}. {line[:150]}")
    html.shutdown()
    print_table(
        f"failing fast: wall seconds per refusal ({args.repeat} runs each; goal < {GOAL_S:g} s)",
        ["case", "median s", "worst s", "< 2 s", "exit", "before (issue)"],
        rows,
    )
    print("what each case printed (its first line):")
    print("\n".join(messages))


if __name__ == "__main__":
    main()
