# media_pipeline developer commands. Everything installs into .venv from PyPI; nothing else is needed but Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
export MEDIA_PIPELINE_HOME ?= $(abspath .media_pipeline)
export DAGSTER_HOME ?= $(MEDIA_PIPELINE_HOME)/dagster_home
# a new DAGSTER_HOME gets a dagster.yaml with run monitoring on (an existing one is left as it is)
HOME_INIT = $(PY) -c 'import os, pathlib, media_pipeline.housekeeping as h; h.ensure_dagster_home(pathlib.Path(os.environ["DAGSTER_HOME"]))'

.PHONY: install demo test dev bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install  ## sample campaign to a finished MP4, offline
	@$(HOME_INIT)
	$(VENV)/bin/media-pipeline demo

test: install  ## the whole suite (real ffmpeg, real Dagster instance, emulator, SeaweedFS)
	$(PY) -m pytest -q -n 2 --dist loadfile

dev: install  ## the Dagster UI on http://127.0.0.1:3000 with the sensor and schedule
	@$(HOME_INIT)
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

bench: install  ## benchmarks: ratios measured side by side
	$(PY) bench/run_all.py

lint: install
	$(VENV)/bin/ruff check media_pipeline media_pipeline_tests bench deploy
	$(VENV)/bin/ruff format --check media_pipeline media_pipeline_tests bench deploy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
