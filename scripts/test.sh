#!/usr/bin/env bash
# Run the test suite in the project's virtual environment, on every core.
#   make test                  the default stack (.venv)
#   make test STACK=classic    AllenNLP's own pins (.venv-classic)
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="${STACK:-default}"
case "$STACK" in
    default) VENV=.venv ;;
    classic) VENV=.venv-classic ;;
    *) echo "test: unknown STACK '$STACK' (use 'default' or 'classic')." >&2; exit 1 ;;
esac
if ! [ -x "$VENV/bin/python" ]; then
    echo "test: no $VENV here; run 'make install$([ "$STACK" = default ] || echo " STACK=$STACK")' first." >&2
    exit 1
fi
exec "$VENV/bin/python" -m pytest -n auto --dist loadfile "$@" tests
