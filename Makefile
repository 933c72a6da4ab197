# Two commands for a fresh machine: `make demo` (mock Planck likelihoods + the CosmoPower emulator:
# a converged six-parameter LCDM chain + triangle plot) and `make test` (the whole test suite).
# Both create and use ./.venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MOCK_DIR ?= mock_data
DEMO := lcdm_emulator_mock_lite
DEMO_PARAMS := omega_b omega_cdm H0 tau_reio n_s logA A_planck
# clipy's plik (smica) works on many tiny matrices: threaded BLAS only adds contention.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test test-fast lint bench bench-featviz install install-test clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --progress-bar off -e .
	touch $@

# Tests also need JAX (the jax backend, gradients) and MPI: the `mpi` extra brings MPICH and mpi4py
# as PyPI wheels, so `$(VENV)/bin/mpirun -n 2 $(VENV)/bin/cobaya-run YAML` works with no system MPI.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --progress-bar off -e '.[test,featviz,jax,mpi,emulator]'
	touch $@

# The optional emulator extra (cosmopower-jax: GPL-3 with a non-commercial use condition)
$(VENV)/.installed-emulator: $(VENV)/.installed
	$(PY) -m pip install --progress-bar off -e '.[emulator]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(MOCK_DIR)/%.clik: | $(VENV)/.installed
	$(PY) -m cobaya_plugins mock $* $(MOCK_DIR)

# Six LCDM parameters + A_planck with the emulator on mock low-l TT + plik_lite, run by Cobaya's
# MCMC until Gelman-Rubin R-1 <= 0.05 (Cobaya's single-chain split test), then the triangle plot
# with the mock's true values marked.
demo: $(VENV)/.installed-emulator $(MOCK_DIR)/lowl_TT.clik $(MOCK_DIR)/highl_TTTEEE_lite.clik
	$(VENV)/bin/cobaya-run --force yaml_examples/$(DEMO).yaml
	$(PY) -m cobaya_plugins triangle chains/$(DEMO) demo_output/$(DEMO)_triangle.png \
		--params $(DEMO_PARAMS) --mark-truth
	@echo "Triangle plot: demo_output/$(DEMO)_triangle.png"

test: $(VENV)/.installed-test
	$(PY) -m pytest -ra

# The tests that take less than ~5 s each (`slow`: measured with pytest --durations=0); about
# 2 minutes on 2 cores. `make test` runs everything.
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -ra -m "not slow"

# ruff is pinned in the `test` extra (setup.cfg), its rules are in pyproject.toml
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# bench_emulator.py runs the two emulator chains to convergence (minutes for plik_lite, longer
# for the full plik: see docs/emulator.md); bench_gradients.py runs HMC, BestFit, profiles and
# Cobaya's MH/minimize on the same files (about 40 min on 2 cores: the two full-plik chains);
# bench_calibration.py fits 50 and samples 20 plik_lite mock realisations, then fits 30 full-plik
# ones (docs/gradients.md); bench_online.py runs CLASS through the online emulator on LCDM + N_ur
# to R-1 <= 0.02 with mpirun -n 2 (stopped after 60 min; docs/online_emulator.md)
bench: $(VENV)/.installed-test
	$(PY) bench/bench_clik.py
	$(PY) bench/bench_mock.py
	$(PY) bench/bench_speed.py
	$(PY) bench/bench_emulator.py
	$(PY) bench/bench_gradients.py
	$(PY) bench/bench_calibration.py
	$(PY) bench/bench_calibration.py --kind plik --bestfits 30 --hmc 0
	$(PY) bench/bench_online.py

bench-featviz: $(VENV)/.installed-test
	$(PY) bench/bench_featviz.py
	$(PY) bench/bench_featviz_quality.py
	$(PY) bench/bench_featviz_trained.py --search

clean:
	rm -rf chains demo_output $(MOCK_DIR)
