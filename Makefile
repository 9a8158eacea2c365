# The two commands of the README: `make install`, then `make test`.
# STACK=classic selects AllenNLP's own pins on Python 3.10 (see scripts/install.sh).
.PHONY: install test lock

STACK ?= default
export STACK

install:
	./scripts/install.sh

test:
	./scripts/test.sh

lock:
	./scripts/lock.sh
