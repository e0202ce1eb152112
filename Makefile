# Every target creates .venv and installs the pinned requirements first, so a fresh clone needs only
# Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STACK ?= staging

.PHONY: preview test diff loadtest quota-check stage-model clean

$(STAMP): requirements.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	@touch $@

## preview: offline preview of STACK (default staging) under Pulumi's mock engine; writes build/$(STACK)/
preview: $(STAMP)
	$(PY) -m tools.preview $(STACK)

## test: the whole test suite (unit, component, policy and end-to-end preview tests)
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

## quota-check: the AWS account's EC2 GPU vCPU quotas (Service Quotas) against STACK's ceilings
quota-check: $(STAMP)
	$(PY) -m tools.quota_check $(STACK)

## stage-model: copy MODEL's Hugging Face snapshot into STACK's weights bucket with a manifest
##              (HF_TOKEN for gated models; FROM_DIR=<snapshot> to upload a local copy instead)
stage-model: $(STAMP)
	$(PY) -m tools.stage_model --stack $(STACK) --model $(MODEL) $(if $(FROM_DIR),--from-dir $(FROM_DIR))

## diff: markdown diff of two previews (what the PR comment shows): make diff BASE=base/build HEAD=build
diff: $(STAMP)
	$(PY) -m tools.plan_diff --stack-dir $(BASE) $(HEAD) --out plan-diff.md
	@cat plan-diff.md

## loadtest: streaming chat load test against a deployed model: make loadtest URL=http://localhost:8000 MODEL=<name>
##           (API key from LLM_API_KEY; REQUESTS and CONCURRENCY default to the seeds' 500 and 50)
REQUESTS ?= 500
CONCURRENCY ?= 50
loadtest: $(STAMP)
	$(PY) -m tools.loadtest --url $(URL) --model $(MODEL) --requests $(REQUESTS) --concurrency $(CONCURRENCY)

clean:
	rm -rf build $(VENV)
