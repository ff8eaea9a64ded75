# The two commands a newcomer needs: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-stamp
CHECKOV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV)/.installed-stamp
ARCH ?= arm64
STAGE ?= dev
export ARCH
PORT ?= 8000
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: install run test lint validate checkov build bench bench-steady bench-litellm clean rollup reconcile

$(STAMP): requirements-dev.txt layers/common/requirements.txt $(wildcard functions/*/requirements.txt) constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

# sam and cfn-lint live apart: aws-sam-translator pins pydantic, the gateway's pydantic is the layer's own choice.
$(TOOLS_STAMP): requirements-tools.txt constraints-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-tools.txt -c constraints-tools.txt
	touch $(TOOLS_STAMP)

# checkov pins boto3, packaging and networkx to releases of its own: a third venv (tests/deploy/test_template.py runs it)
$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(CHECKOV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	touch $(CHECKOV_STAMP)

# axe-core for the browser tests' accessibility check, from npm with web/package-lock.json (the app itself needs no Node)
AXE := web/node_modules/axe-core/axe.min.js
$(AXE): web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error; \
	else echo "*** npm not found: the browser tests' axe-core check will fail (install Node.js, then make test) ***"; fi

install: $(STAMP) $(TOOLS_STAMP) $(CHECKOV_STAMP) $(AXE)

run: $(STAMP) ## the whole gateway on http://127.0.0.1:$(PORT), embedded DynamoDB, demo data
	PORT=$(PORT) $(PY) -m local.server

test: install ## the whole suite (unit, api, lambda, e2e, deploy: sam build + boot, checkov, the dashboard in Chromium), then ruff
	$(PY) -m pytest
	$(VENV)/bin/ruff check .

lint: install
	$(VENV)/bin/ruff check .

validate: install ## sam validate --lint and checkov (no AWS account needed)
	$(TOOLS)/bin/sam validate --lint
	$(CHECKOV)/bin/checkov --config-file .checkov.yaml

build: install ## sam build for python3.13 on ARCH (arm64; ARCH=x86_64 for the other), 3.13 bytecode: see README, Deploy
	$(TOOLS)/bin/sam build --parameter-overrides Architecture=$(ARCH)

reconcile: $(STAMP) ## balance = ledger - usage for every user of a deployed STAGE (read-only; AWS credentials needed)
	$(PY) -m ops.reconcile --stage $(STAGE)

rollup: ## run the usage rollup job once, inside the running `make run` (it also runs every LOCAL_JOB_INTERVAL s)
	curl -sS -X POST http://127.0.0.1:$(PORT)/local/jobs/RollupFunction; echo

bench: $(STAMP) ## benchmarks against a local server started by each script (not part of make test)
	$(PY) -m bench.balance
	$(PY) -m bench.proxy
	$(PY) -m bench.admission
	$(PY) -m bench.rollup
	$(PY) -m bench.ttfb
	$(PY) -m bench.redaction
	$(PY) -m bench.steady
	$(PY) -m bench.vs_litellm

bench-steady: $(STAMP) ## make run's latency over 10,000 sequential chat completions
	$(PY) -m bench.steady

bench-litellm: $(STAMP) ## the gateway against LiteLLM's proxy (installs litellm[proxy] in .gateway/litellm-venv first)
	$(PY) -m bench.vs_litellm

clean:
	rm -rf $(VENV) $(TOOLS) $(CHECKOV) .aws-sam .gateway .pytest_cache .ruff_cache web/node_modules
