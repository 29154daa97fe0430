# Two commands for a newcomer: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
DEMO_KEY := instance/officer/demo.key

.PHONY: run test lint bench bench-quick clean translations fuzz screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server,officer]'
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server,officer,test]'
	touch $@ $(VENV)/.installed-run


# The demo unit: private half under instance/ (git-ignored), public half in keys/.
$(DEMO_KEY): | $(VENV)/.installed-run
	TIPDROP_PASSPHRASE=demo $(BIN)/tipdrop keygen --unit demo --out instance/officer
	cp instance/officer/demo.pub keys/demo.pub

keys/demo.pub: $(DEMO_KEY)
	cp instance/officer/demo.pub keys/demo.pub

# The compiled catalogs (.mo, git-ignored) are a build step: the app refuses to start
# without them or with ones older than their .po, and never writes into its package.
translations: $(VENV)/.installed-run
	$(BIN)/python -m tipdrop.server.web.catalog compile

run: $(VENV)/.installed-run translations $(DEMO_KEY) keys/demo.pub
	@echo
	@echo "tipdrop is starting on http://$(HOST):$(PORT)  (data in ./instance, keys in ./keys)"
	@echo "Demo unit 'demo': private key $(DEMO_KEY), passphrase: demo"
	@echo "Try the officer tools:"
	@echo "  $(BIN)/tipdrop keys show keys/demo.pub"
	@echo "  $(BIN)/tipdrop keys show $(DEMO_KEY)"
	@echo
	$(BIN)/tipdrop serve --host $(HOST) --port $(PORT)

# axe-core, the accessibility checker the browser tests inject into every
# reporter page (tests/browser/test_shared_device_browser.py), from npm.
AXE_VERSION := 4.10.3
AXE := build/node_modules/axe-core/axe.min.js

$(AXE):
	.ci/system-packages npm:npm
	npm install --prefix build --no-save --no-audit --no-fund --silent axe-core@$(AXE_VERSION)

test: $(VENV)/.installed-test translations $(AXE)
	.ci/system-packages chromium:chromium nginx:nginx mke2fs:e2fsprogs mount:mount
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The static checks alone (also run by `make test`): ruff with the rule set stated in
# pyproject.toml, the import-linter contracts of the trust zones, mypy.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

# Coverage-guided fuzzing (atheris) of the parsers of untrusted bytes: each target of
# fuzz/fuzz_parsers.py for FUZZ_SECONDS (http: raw requests through gunicorn's parser
# into the app, where any 5xx is a crash). New inputs go to build/fuzz/TARGET, crashing
# inputs to build/fuzz/crashes/. Without atheris: a long Hypothesis run instead.
FUZZ_SECONDS  ?= 60
FUZZ_EXAMPLES ?= 20000
FUZZ_TARGETS  := envelope stream reply_bundle export http

fuzz: $(VENV)/.installed-test
	@if $(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/pip install -q atheris; then \
	  for target in $(FUZZ_TARGETS); do \
	    echo "== fuzzing $$target for $(FUZZ_SECONDS) s"; \
	    mkdir -p build/fuzz/$$target build/fuzz/crashes; \
	    $(BIN)/python fuzz/fuzz_parsers.py $$target -max_total_time=$(FUZZ_SECONDS) \
	      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	      -artifact_prefix=build/fuzz/crashes/$$target- \
	      build/fuzz/$$target fuzz/corpus/$$target || exit 1; \
	  done; \
	else \
	  echo "atheris cannot be installed for $$($(BIN)/python -V): running Hypothesis" \
	       "with $(FUZZ_EXAMPLES) examples per property instead"; \
	  TIPDROP_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q \
	    tests/protocol/test_fuzz_parsers.py tests/officer/test_fuzz_bundle_metadata.py; \
	fi

# The officer guide's pictures (docs/img/officer-app-*.png), taken from invented reports by
# the browser test of those screens (tests/browser/test_officer_guide_screenshots.py).
screenshots: $(VENV)/.installed-test translations
	.ci/system-packages chromium:chromium
	TIPDROP_GUIDE_SCREENSHOTS=1 $(BIN)/python -m pytest -q \
	  tests/browser/test_officer_guide_screenshots.py

bench: $(VENV)/.installed-test translations
	.ci/system-packages age:age gpg:gnupg
	$(BIN)/python -m bench.run --full
	$(BIN)/python -m bench.fill_readme

bench-quick: $(VENV)/.installed-test translations
	.ci/system-packages age:age gpg:gnupg
	$(BIN)/python -m bench.run --quick
	$(BIN)/python -m bench.fill_readme

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
