#!/usr/bin/env bash
# Run the test suite in the project's virtual environment, on every core.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x .venv/bin/python ]; then
    echo "test: no .venv here; run 'make install' first." >&2
    exit 1
fi
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@" tests
