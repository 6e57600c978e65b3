# nn_accel: `make demo` (the main job) and `make test`. Both create .venv and install first.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(abspath $(VENV))/bin
STAMP   := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
# C-simulation builds are cached by content hash; keep this clone's cache inside it
# (fusesoc.conf does the same for FuseSoC's generator cache).
export NNACCEL_CACHE ?= $(abspath .cache/nnaccel)

.PHONY: demo test bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)/FUSESOC_IGNORE $@

demo: $(STAMP)
	$(BIN)/python -m nnaccel.demo

test: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile tests

# hls4ml predict() vs `nnaccel csim --engine c|numpy` (jet MLP 100,000 samples, digits CNN 10,000):
# writes benchmarks/results.md. Run it on an otherwise idle machine; it takes a few minutes.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py -o benchmarks/results.md

clean:
	rm -rf build .cache
