# Two entry points for a fresh machine:
#   make demo   set up the core (no torch, no weights) and run the demo
#   make test   set up everything and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup-core setup-all

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup-core: $(BIN)/python
	$(BIN)/pip install -q -e .

# torch and torchvision are pinned to the CPU-capable builds this project is
# tested with; deaotpy and groundingdino-py are installed without their
# declared dependencies (see README, "Installing the model packages").
setup-all: $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e ".[models,editor,distributed,dev]"
	$(BIN)/pip install -q -c constraints.txt --no-deps -r requirements-nodeps.txt

demo: setup-core
	$(BIN)/inpainterz demo

test: setup-all
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q
