#!/usr/bin/env bash
# The test command: set up (idempotent), then run the whole suite against DynamoDB Local.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k snapshot -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1  # tests and CI never reach the model hub
exec .venv/bin/python -m pytest "$@"
