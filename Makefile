# Two set-up commands: `make serve` runs the gateway on embedded defaults, `make test` runs every test.
# Each creates .venv and installs what it needs on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test install demo-providers bench soak clean chromium

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/switchyard serve $(ARGS)

demo-providers: $(STAMP)
	$(BIN)/switchyard demo-providers $(ARGS)

# The browser test drives Debian's chromium (no browser download); install it when we can.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "could not install chromium: the browser test will be skipped"

test: $(STAMP) chromium
	$(BIN)/python -m pytest $(ARGS)

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f --quick || exit 1; done

soak: $(STAMP)
	$(BIN)/python -m pytest -m soak tests/reliability $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
