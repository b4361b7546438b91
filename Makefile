# loopkit task runner. The two commands a newcomer runs:  make book   and   make test
# Both do all their own set-up (apt packages + .venv) through scripts/setup.sh.

PY      := .venv/bin/python
PROFILE ?= cpu
CORPUS  ?= demo
OUT     ?= runs/$(PROFILE)
DEVICE  ?= auto
# REHEARSAL=1: the whole book at PROFILE's batch and sizes in minutes (the first epochs of every schedule, a few
# thousand loops per table row, every page labelled, the full run's time projected), in its own folder OUT-rehearsal.
REHEARSAL ?=
# SET="amp=bf16 validate_every=10": training settings over the profile's (loopkit.config.TrainConfig's fields).
SET     ?=
# RECORD=1: record the run's tables, claims, curves and provenance in records/PROFILE (RECORD=NAME: records/NAME),
# shown beside every later build's own (the recorded long run: make book PROFILE=long RECORD=1).
RECORD  ?=

.PHONY: book lab test test-all setup bench clean

setup:
	scripts/setup.sh

## The main job: get the corpus, run every notebook under PROFILE with papermill, build the book.
book: setup
	$(PY) -m loopkit book --profile $(PROFILE) --corpus $(CORPUS) --out $(OUT) --device $(DEVICE) \
		$(if $(filter-out 0 no false,$(REHEARSAL)),--rehearsal) $(addprefix --set ,$(SET)) \
		$(if $(filter-out 0 no false,$(RECORD)),--record $(if $(filter 1 yes true,$(RECORD)),,$(RECORD)))

## The chapters live: JupyterLab on 127.0.0.1 (with a token) over copies of the executed chapters, pointed at OUT.
lab:
	scripts/setup.sh --lab
	$(PY) -m loopkit lab --out $(OUT)

## The test suite (fast: minutes). CI runs exactly this. One worker process per core (at most 4, pytest-xdist),
## each test file whole in one worker, so a file's fixtures (the smoke book) are built once; it ends by listing the
## ten slowest tests (--durations=10).
PARALLEL = -n auto --maxprocesses 4 --dist loadfile
test:
	scripts/setup.sh --test
	$(PY) -m pytest -m "not slow" $(PARALLEL) --durations=10

## Everything, slow tests included.
test-all:
	scripts/setup.sh --test
	$(PY) -m pytest $(PARALLEL)

## Speed, memory and reliability figures quoted in the README.
bench: setup
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/train.py
	$(PY) benchmarks/metrics.py
	$(PY) benchmarks/hostile.py

clean:
	rm -rf _build book/_generated runs
