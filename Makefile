# The two commands of the README: `make install`, then `make test`.
.PHONY: install test

install:
	./scripts/install.sh

test:
	./scripts/test.sh
