# Two commands for a fresh machine: `make demo` (mock Planck likelihoods + CLASS + short MCMC +
# triangle plot) and `make test` (the whole test suite). Both create and use ./.venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MOCK_DIR ?= mock_data
DEMO_YAML := yaml_examples/mock_demo.yaml
# clipy's plik (smica) works on many tiny matrices: threaded BLAS only adds contention.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test lint bench bench-featviz install install-test clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --progress-bar off -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --progress-bar off -e '.[test,featviz,emulator]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(MOCK_DIR)/%.clik: | $(VENV)/.installed
	$(PY) -m cobaya_plugins mock $* $(MOCK_DIR)

demo: $(VENV)/.installed $(MOCK_DIR)/lowl_TT.clik $(MOCK_DIR)/highl_TTTEEE.clik
	$(VENV)/bin/cobaya-run --force $(DEMO_YAML)
	$(PY) -m cobaya_plugins triangle chains/mock_demo demo_output/mock_demo_triangle.png \
		--params logA n_s A_planck
	@echo "Triangle plot: demo_output/mock_demo_triangle.png"

test: $(VENV)/.installed-test
	$(PY) -m pytest -ra

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed-test
	$(PY) bench/bench_clik.py
	$(PY) bench/bench_mock.py

bench-featviz: $(VENV)/.installed-test
	$(PY) bench/bench_featviz.py

clean:
	rm -rf chains demo_output $(MOCK_DIR)
