#!/usr/bin/env bash
# Regenerate the lock files that `make install` installs from, after a change to setup.py's
# dependencies or to requirements/overrides.txt. Needs uv (`pip install uv`); commit the result.
#   requirements/default.lock  the default stack, one universal resolution for Python 3.10-3.13,
#                              with AllenNLP's pins lifted by requirements/overrides.txt
#   requirements/classic.lock  AllenNLP's own pins on Python 3.10 (`make install STACK=classic`)
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-uv}"

"$UV" pip compile setup.py --extra dev --universal --python-version 3.10 \
    --override requirements/overrides.txt \
    --custom-compile-command "scripts/lock.sh" \
    --output-file requirements/default.lock

"$UV" pip compile setup.py --extra dev --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
    --custom-compile-command "scripts/lock.sh" \
    --output-file requirements/classic.lock
