# Every target creates .venv and installs what it needs first, so a fresh clone needs only Python 3.11+
# and make. Three sets, each on top of the previous one: the runtime (what `pulumi up` and the offline
# preview need: requirements.txt), tools (stage-model, quota-check, loadtest) and tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# --no-compile: Python compiles what a run imports on first use; compiling all of both cloud SDKs at
# install time would cost minutes and more than doubles the virtualenv.
PIP := $(PY) -m pip install --quiet --disable-pip-version-check --no-compile
STACK ?= staging

.DEFAULT_GOAL := help
.PHONY: help install preview test docs bench bench-weights diff loadtest gate canary-check promote rollback quota-check stage-model refresh-prices clean

## help: list the targets (this text)
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

$(VENV)/.runtime: pyproject.toml requirements.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	@touch $@

$(VENV)/.tools: $(VENV)/.runtime
	$(PIP) -e '.[tools]' -c constraints.txt
	@touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(PIP) -e '.[test]' -c constraints.txt
	@touch $@

## install: .venv with what `pulumi up` and the offline preview need (requirements.txt), nothing more
install: $(VENV)/.runtime

## preview: offline preview of STACK (default staging) under Pulumi's mock engine; writes build/$(STACK)/
##          (STACK=examples/<name> previews an example folder)
##          (fails on an invalid stack file or a mandatory policy violation; see the README for the statuses)
preview: $(VENV)/.runtime
	$(PY) -m tools.preview $(STACK)

## test: the whole test suite (unit, component, policy and end-to-end preview tests)
test: $(VENV)/.test
	$(PY) -m pytest -q -p no:cacheprovider tests

## docs: regenerate the README's configuration reference and docs/stack-config.schema.json from the model
docs: $(VENV)/.runtime
	$(PY) -m tools.config_reference --write

## bench: the offline preview against the bare SDK import, as a ratio of medians over paired runs
bench: $(VENV)/.runtime
	$(PY) -m tools.bench_preview

## bench-weights: the weight fetcher against a loopback S3 stand-in next to a sequential copy (bytes/s, CPU)
bench-weights: $(VENV)/.runtime
	$(PY) -m tools.bench_weights

## diff: markdown diff of two previews (what the PR comment shows): make diff BASE=base/build HEAD=build
diff: $(VENV)/.runtime
	$(PY) -m tools.plan_diff --stack-dir $(BASE) $(HEAD) --out plan-diff.md
	@cat plan-diff.md

## quota-check: the cloud's GPU quotas against STACK's ceilings (AWS Service Quotas; GCP: what to compare)
quota-check: $(VENV)/.tools
	$(PY) -m tools.quota_check $(STACK)

## refresh-prices: re-read the catalog's on-demand instance prices from the AWS Price List and Cloud Billing
##                 Catalog APIs, write them in place and show the diff (CLOUD=aws|gcp for one; DRY_RUN=1 to only show)
refresh-prices: $(VENV)/.tools
	$(PY) -m tools.refresh_prices $(if $(CLOUD),--cloud $(CLOUD)) $(if $(DRY_RUN),--dry-run)

## stage-model: copy MODEL's Hugging Face snapshot into STACK's weights bucket with a manifest
##              (HF_TOKEN for gated models; FROM_DIR=<snapshot> to upload a local copy instead)
stage-model: $(VENV)/.tools
	$(PY) -m tools.stage_model --stack $(STACK) --model $(MODEL) $(if $(FROM_DIR),--from-dir $(FROM_DIR))

## loadtest: streaming chat load test against the gateway or a model: make loadtest URL=https://<gateway host> MODEL=<name>
##           (the client key from LLM_API_KEY, sent as a Bearer token; REQUESTS and CONCURRENCY default to the
##           seeds' 500 and 50; WORKLOAD=chat CONVERSATIONS=50 TURNS=5 for growing conversations on a shared
##           prefix; RATE=<req/s> for a fixed request rate instead of a fixed concurrency)
REQUESTS ?= 500
CONCURRENCY ?= 50
WORKLOAD ?= single
loadtest: $(VENV)/.tools
	$(PY) -m tools.loadtest --url $(URL) --model $(MODEL) --workload $(WORKLOAD) --requests $(REQUESTS) \
		$(if $(RATE),--rate $(RATE),--concurrency $(CONCURRENCY)) \
		$(if $(CONVERSATIONS),--conversations $(CONVERSATIONS)) $(if $(TURNS),--turns $(TURNS))

## gate: the release gate of MODEL on STACK through its gateway: smoke, evaluation data set and load test
##       against the model's `gates`, a table, exit 1 on a miss (URL and HOST_HEADER optional: the gateway
##       endpoint and key come from `pulumi stack output` unless URL and LLM_API_KEY are set)
gate: $(VENV)/.tools
	$(PY) -m tools.gate --stack $(STACK) --model $(MODEL) $(if $(URL),--url $(URL)) $(if $(HOST_HEADER),--host-header $(HOST_HEADER))

## canary-check: judge MODEL's canary on STACK from Prometheus (PROMETHEUS=http://127.0.0.1:9090, e.g. a port-forward):
##               promote (exit 0), hold (3) or roll back (1); the table also goes to $GITHUB_STEP_SUMMARY
canary-check: $(VENV)/.runtime
	$(PY) -m tools.canary_check --stack $(STACK) --model $(MODEL) --prometheus $(PROMETHEUS)

## promote: MODEL's canary becomes the model in Pulumi.$(STACK).yaml (comments kept; checked before it is written)
promote: $(VENV)/.tools
	$(PY) -m tools.release promote --stack $(STACK) --model $(MODEL)

## rollback: MODEL's canary leaves Pulumi.$(STACK).yaml; `pulumi up` then takes its pods and route weight away
rollback: $(VENV)/.tools
	$(PY) -m tools.release rollback --stack $(STACK) --model $(MODEL)

## clean: remove build/ and .venv
clean:
	rm -rf build $(VENV)
