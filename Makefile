# Developer targets. `make test` is the command the README gives and CI runs; it installs on first use.
PY := .venv/bin/python

.PHONY: install lint type test conformance bench demo

.venv/.installed: pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: .venv/.installed

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

type: install
	$(PY) -m mypy

# pytest exits 5 when it collects nothing: that is a failure here, not a pass.
test: install
	$(PY) -m pytest -n 2 --timeout 900; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

conformance: install
	PYTHON=$(CURDIR)/$(PY) ../shared/tools/store-conformance memcollab_langgraph:ChromaStore

# The main job on the embedded defaults: local llama.cpp server, bundled SmolLM2 (or the Qwen team when
# its GGUF files are in ~/.cache/memcollab/models), demo tasks, a Chroma directory in .memcollab/demo.
demo: install
	.venv/bin/memcollab demo

bench: install
	$(PY) benchmarks/store_bench.py
