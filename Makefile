# The two commands of the README are `make demo` and `make test`; both set up a fresh machine first.
VENV ?= .venv
PY := $(VENV)/bin/python
BENCHES := ingest collector codec streaming batch forecast alerts

.PHONY: setup demo test lint bench $(addprefix bench-,$(BENCHES)) clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(VENV)/bin/playpulse demo

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: setup
	@$(VENV)/bin/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check .

bench: $(addprefix bench-,$(BENCHES))

# A static pattern rule: make skips implicit rules for .PHONY targets, so `bench-%: setup` did nothing.
$(addprefix bench-,$(BENCHES)): bench-%: setup
	$(PY) -m bench.$*

clean:
	rm -rf .playpulse bench/results/*.json
