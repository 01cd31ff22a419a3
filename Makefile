# Two entry points for a fresh machine (see README):
#   make demo   set up the virtualenv and run the main job (writes to out/)
#   make test   set up the virtualenv and run ruff + the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: setup demo test lint bench clean wheel-smoke

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the CPU build; an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

demo: $(STAMP)
	mkdir -p out
	SDL_VIDEODRIVER=dummy MPLBACKEND=Agg $(BIN)/testbed map show duisburg_ruhrort --out out/duisburg_ruhrort.png
	MPLBACKEND=Agg $(BIN)/testbed vessel manoeuvre M8 --turning 35 --out out
	MPLBACKEND=Agg $(BIN)/testbed vessel manoeuvre M8 --zigzag 20/20 --out out
	SDL_VIDEODRIVER=dummy $(BIN)/testbed run PortEntry-v0 --agent autopilot --episodes 1 --seed 0 \
		--render png --frame-every 60 --out out/port_entry
	@echo "wrote: $$(ls out) and out/port_entry: $$(ls out/port_entry)"

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	SDL_VIDEODRIVER=dummy MPLBACKEND=Agg $(BIN)/python -m pytest -q -n 2

# the wheel, installed into a fresh venv, run from a temporary directory (.ci/wheel_smoke.sh)
wheel-smoke: $(STAMP)
	.ci/wheel_smoke.sh $(VENV)

bench: $(STAMP)
	$(BIN)/python benchmarks/vessel_speed.py
	$(BIN)/python benchmarks/map_speed.py
	$(BIN)/python benchmarks/env_speed.py
	$(BIN)/python benchmarks/ais_ingest.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
