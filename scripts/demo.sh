#!/usr/bin/env bash
# The main job on a local default: DynamoDB Local on disk, receipts, a snapshot, a model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
eval "$(mstore local start --data-dir .local/dynamodb-data --json | python -c 'import json,sys; s=json.load(sys.stdin); print("export AWS_ENDPOINT_URL_DYNAMODB=" + s["endpoint_url"])')"
export RECEIPT_ML_TABLE=${RECEIPT_ML_TABLE:-ReceiptsTable}
mstore table create
mstore table stats
