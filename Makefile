# Two commands do everything on a fresh machine with Python 3.11 and make: `make demo`, `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint validate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,demo]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/specbridge demo

test: $(STAMP)
	$(BIN)/ruff check engine transports simulators workers tests bench
	$(BIN)/specbridge validate mappings/
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check engine transports simulators workers tests bench

validate: $(STAMP)
	$(BIN)/specbridge validate mappings/

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis specbridge.db
