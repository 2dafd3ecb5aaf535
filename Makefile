# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create .venv on first use and install exactly the versions in
# requirements/lock.txt (a pip constraints file; torch's own dependencies too). TORCH picks the
# torch wheel: the default pin resolves to the preinstalled CPU wheel on CPU
# machines of this project, and to PyPI's CUDA build on a GPU machine (see
# README, "GPU users"); torch is not in the lock, so either build is kept.
PYTHON ?= python3.11
VENV ?= .venv
TORCH ?= torch==2.13.0
LOCK := requirements/lock.txt
BIN := $(VENV)/bin

.PHONY: install demo test test-newest lint format lock

install: $(VENV)/.installed-dev

# what the demo needs; the tests and linters add the dev extras (gradio, playwright, ruff, ...)
# and DeepSpeed, whose ZeRO stages the tests prove on CPU
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(LOCK) $(TORCH)  # torch's own dependencies from the lock too
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[dev,deepspeed]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/e3d2 demo

# One single-threaded pytest-xdist worker per core (at most 4), a test module per worker at a time
# so its module fixtures are built once: about half the serial time on 2 cores.
test: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadscope

lint: install
	$(BIN)/ruff format --check . && $(BIN)/ruff check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# Re-resolve the newest versions pyproject.toml allows, write them to the lock
# (and the lower bounds), reinstall .venv from it and run the tests on the new set.
lock:
	$(PYTHON) requirements/refresh_lock.py --torch "$(TORCH)"
	$(MAKE) test

# The fast tests on the newest releases of the fast-moving libraries (transformers, trl,
# accelerate, huggingface_hub, gradio, ruff), even beyond the upper bounds, in a scratch venv
# (requirements/test_newest.py): pip check, and which release breaks what. About 7 minutes.
test-newest: install
	$(BIN)/python requirements/test_newest.py --torch "$(TORCH)"
