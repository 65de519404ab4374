#!/usr/bin/env bash
# Lint and types: ruff (rules and format, line length 120) on everything, pyright (basic) on
# the packages. Needs the set-up (.venv) and npm; pyright is installed once into .local/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYRIGHT_VERSION=1.1.407
PYRIGHT_DIR=.local/pyright
if [ ! -x "$PYRIGHT_DIR/node_modules/.bin/pyright" ] || ! grep -q "\"version\": \"$PYRIGHT_VERSION\"" "$PYRIGHT_DIR/node_modules/pyright/package.json"; then
  command -v npm >/dev/null || { echo "lint: npm is required to install pyright" >&2; exit 1; }
  npm install --silent --no-audit --no-fund --prefix "$PYRIGHT_DIR" "pyright@$PYRIGHT_VERSION" >/dev/null
fi
echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== pyright (basic) on packages/"; "$PYRIGHT_DIR/node_modules/.bin/pyright"
