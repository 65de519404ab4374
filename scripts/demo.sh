#!/usr/bin/env bash
# The main job, end to end, on a local default:
#   DynamoDB Local (on disk, so a second run sees the first run's data) -> synthetic receipts
#   -> a checked snapshot -> a tiny LayoutLM trained on CPU -> the run's records and report.
# Knobs (environment): DEMO_RECEIPTS (200), DEMO_EPOCHS (8), DEMO_DIR (.local/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

RECEIPTS=${DEMO_RECEIPTS:-200}
EPOCHS=${DEMO_EPOCHS:-8}
DEMO_DIR=${DEMO_DIR:-.local/demo}
export RECEIPT_ML_TABLE=${RECEIPT_ML_TABLE:-ReceiptsTable}
export RECEIPT_ML_SNAPSHOT_ROOT=${RECEIPT_ML_SNAPSHOT_ROOT:-$DEMO_DIR/snapshots}
export AWS_REGION=${AWS_REGION:-us-east-1}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "DynamoDB Local (data in $DEMO_DIR/dynamodb)"
endpoint=$(mstore local start --data-dir "$DEMO_DIR/dynamodb" --state-file "$DEMO_DIR/dynamodb.json" --json \
  | python -c 'import json, sys; print(json.load(sys.stdin)["endpoint_url"])')
export AWS_ENDPOINT_URL_DYNAMODB=$endpoint
echo "endpoint $endpoint (stop it with: mstore local stop --state-file $DEMO_DIR/dynamodb.json)"
mstore table create

step "Receipts in the table"
have=$(mstore table stats --json | python -c 'import json, sys; print(json.load(sys.stdin)["RECEIPT"])')
if [ "$have" -lt "$RECEIPTS" ]; then
  dsb receipts generate --n "$RECEIPTS" --seed 7
else
  echo "$have receipts already there (from an earlier run)"
fi
dsb stats

step "Snapshot (the user's seven labels, totals merged into AMOUNT, O:entity 2.0)"
snapshot=$(dsb snapshot create --merge-preset amounts --o-entity-ratio 2.0 --val-fraction 0.2 \
  --allowed-label MERCHANT_NAME --allowed-label PHONE_NUMBER --allowed-label ADDRESS_LINE \
  --allowed-label DATE --allowed-label TIME --allowed-label PRODUCT_NAME --allowed-label AMOUNT)
dsb snapshot list
dsb contracts check --snapshot "$snapshot"

step "Training a tiny LayoutLM on $snapshot (CPU, $EPOCHS epochs)"
fitted=$(trainer fit --snapshot "$snapshot" --model tiny --max-seq-length 256 --doc-stride 64 \
  --epochs "$EPOCHS" --batch-size 8 --lr 1e-3 --output-dir "$DEMO_DIR/runs" --json)
job=$(printf '%s' "$fitted" | python -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
run_dir=$(printf '%s' "$fitted" | python -c 'import json, sys; print(json.load(sys.stdin)["output_dir"])')

step "The run, as recorded in DynamoDB"
trainer runs show "$job"
trainer runs report "$job"

cat <<DONE

Done.
  snapshot:   $RECEIPT_ML_SNAPSHOT_ROOT/$snapshot   (dsb snapshot show $snapshot)
  run:        $run_dir   (best model, run.json, run_report.json, plots)
  job:        $job   (trainer runs show $job --json)
  DynamoDB:   $endpoint, table $RECEIPT_ML_TABLE
Run it again: the table keeps its receipts and a new snapshot and job are added.
DONE
