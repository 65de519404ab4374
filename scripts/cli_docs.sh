#!/usr/bin/env bash
# Regenerate docs/cli/*.md (every command and option) from the CLIs themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
for cli in "mstore metrics_store.cli" "dsb dataset_builder.cli" "trainer trainer.cli"; do
  set -- $cli
  .venv/bin/typer "$2" utils docs --name "$1" --output "docs/cli/$1.md" >/dev/null
done
echo "docs/cli/ regenerated"
