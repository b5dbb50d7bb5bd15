# posebook — two commands on a fresh machine:
#   make book   install, run the experiments, execute every notebook at the quick profile on CPU, build the HTML book
#   make test   install, run the experiments, the unit tests and the notebook regression checks (pytest --nbval-lax)

PYTHON ?= python3
# torch: the CPU build by default; install your CUDA build of torch first to use a GPU
# (an installed torch satisfies pyproject's range, so nothing is replaced).
TORCH_SPEC ?= torch==2.13.0

# The CMU ASF/AMC subset beside the checkout (../shared/data/cmu_mocap) is used when present;
# set POSEBOOK_CMU_DIR yourself to point at your own CMU download.
SHARED_CMU := $(abspath ../shared/data/cmu_mocap)
ifeq ($(origin POSEBOOK_CMU_DIR),undefined)
ifneq ($(wildcard $(SHARED_CMU)/*.asf),)
export POSEBOOK_CMU_DIR := $(SHARED_CMU)
endif
endif

# One results folder for the notebook checks and the book (notebooks run in their own folders): the
# book build reuses the quick runs `make test` computed, and the scorecard page finds every chapter's.
export POSEBOOK_RESULTS_DIR ?= $(CURDIR)/results

NOTEBOOKS := $(shell find notebooks -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' 2>/dev/null)

.PHONY: install results book test browser-test lint-imports sync bench reference clean

# Installs once: again when there is no stamp (a fresh clone), pyproject.toml is newer than it, a tool
# the targets need does not import, or `posebook` imports from another checkout (an editable install
# of another clone); so second runs of `make test` / `make book` work offline. (`[ a -nt b ]` alone
# is false in dash when b is missing: hence the separate test for the stamp.)
INSTALL_STAMP := .dev/installed
INSTALLED := import pathlib, posebook, importlinter, nbval, jupyter_book, seaborn, papermill; \
	assert pathlib.Path(posebook.__file__).resolve().parent == pathlib.Path('src/posebook').resolve()
install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	@if [ ! -f $(INSTALL_STAMP) ] || [ pyproject.toml -nt $(INSTALL_STAMP) ] || ! $(PYTHON) -c "$(INSTALLED)" 2>/dev/null; then \
		$(PYTHON) -m pip install -e ".[dev]" && mkdir -p .dev && touch $(INSTALL_STAMP); \
	else echo "posebook and its tools are installed (pip install -e '.[dev]' skipped)"; fi

# Every experiment the notebooks show, at their defaults (quick, CPU, seed 0), into $(POSEBOOK_RESULTS_DIR)
# before any notebook runs: submitit jobs on this machine, one chapter per job (its experiments share
# their world and networks), JOBS at a time (the cores), the costliest chapters first. The notebooks
# of `make book` and `make test` then find their results stored, computed the same way for both.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

results: install
	$(PYTHON) -m posebook.cli run --all --profile quick --device cpu --executor local --group chapter --jobs $(JOBS)

book: results
	$(PYTHON) -m posebook.cli book
	@echo "open _build/html/index.html"

# The layer contracts of .importlinter (tests/test_layers.py runs them too).
lint-imports: install
	$(PYTHON) -c "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"

test: results lint-imports
	$(PYTHON) -m pytest tests $(NOTEBOOKS) --nbval-lax --nbval-current-env -p no:cacheprovider

# The built book (`make book` first) in headless Chromium: console errors, images, MathJax, search,
# links, widgets; screenshots in _build/screenshots/. Needs Debian's chromium and chromium-driver
# (`.ci/run` installs them); without them the test skips and says why.
browser-test: install
	POSEBOOK_BOOK_HTML=$(CURDIR)/_build/html $(PYTHON) -m pytest tests/test_book_html.py -p no:cacheprovider -q

# Reference runs for the book (committed under reference/): the long profile on this CPU, or
# `make reference PROFILE=gpu DEVICE=cuda` on a GPU. Resumes; MATCH=prom. limits it to a chapter.
PROFILE ?= long
DEVICE ?= cpu
MATCH ?=
reference: install
	$(PYTHON) -m posebook.cli run --all --reference --profile $(PROFILE) --device $(DEVICE) $(if $(MATCH),--match $(MATCH))

# Re-pair and re-execute the notebooks after editing their MyST .md sources (quick profile, CPU).
sync:
	$(PYTHON) -m jupytext --sync $(shell find notebooks -name '*.md')
	for nb in $(NOTEBOOKS); do $(PYTHON) -m jupyter execute --timeout=1800 --inplace "$$nb" || exit 1; done

bench:
	for b in bench/bench_*.py; do $(PYTHON) "$$b" || exit 1; done

clean:
	rm -rf _build results .pytest_cache
