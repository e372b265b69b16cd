# The two quick-start commands (README): `make demo` and `make test`.
.PHONY: setup demo test

setup:
	@bash scripts/bootstrap.sh

demo: setup
	.venv/bin/eqreg demo
	.venv/bin/eqreg serve

test: setup
	.venv/bin/pytest
