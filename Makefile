# ciswatch: `make test` and `make demo` set everything up from a clean clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench lint package clean sandbox browser report-screenshot
STAGE ?= prod

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ciswatch needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip<26.3'
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Headless Chromium (the Debian package) renders the HTML report in the tests.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] || { echo "make test needs headless Chromium: apt-get install chromium (as root)"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: lint browser
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python -m sandbox.demo

# The demo account's HTML report as a browser renders it (docs/report.png, shown in the README).
report-screenshot: demo browser
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1500 \
	  --screenshot=docs/report.png file://$(CURDIR)/out/demo-report.html

# The demo's account on a moto server that stays up, to explore with the CLI (prints how).
sandbox: $(STAMP)
	$(BIN)/python -m sandbox.serve

# The CloudFormation/SAM template and the deployment zip, in out/ (runtime pinned by resources.json).
package: $(STAMP)
	rm -rf out
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} CISWATCH_REQUEST_QUEUE=ciswatch-$(STAGE)-audit-requests \
	  $(BIN)/chalice package --stage $(STAGE) --merge-template resources.json out
	$(BIN)/cfn-lint out/sam.json
	@echo "out/sam.json and out/deployment.zip ($$(du -k out/deployment.zip | cut -f1) KiB); deploy with Stage=$(STAGE)"

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis
