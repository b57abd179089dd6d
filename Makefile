# pebuild — everything a fresh Debian machine needs is installed by `make setup`,
# which `make test` and `make demo` run first. Idempotent: re-running does no work.

PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
PEBUILD     := $(VENV)/bin/pebuild
DEB_PKGS    := $(shell grep -v '^\s*\#' .ci/debian-packages.txt | tr '\n' ' ')
STAMP_DEB   := $(VENV)/.deb-installed
STAMP_PY    := $(VENV)/.py-installed
WHEELHOUSE  := $(VENV)/wheelhouse
PYTEST_ARGS ?=
DEMO_DIR    ?= build/demo
# wait for another apt/dpkg (unattended-upgrades on a fresh CI runner) instead of failing at once
APT_WAIT    := -o DPkg::Lock::Timeout=300

.PHONY: setup test lint bench demo smoke clean help dist containerfile wheelhouse

help:
	@echo "make demo   build a WinPE ISO from the built-in sample source and smoke-boot it (BIOS + UEFI)"
	@echo "make test   install what is needed, then run the whole test suite"
	@echo "make lint   ruff check + ruff format --check"
	@echo "make bench  run the benchmarks in bench/ against the reference tools"
	@echo "make setup  only install (Debian packages when root, Python package into $(VENV))"
	@echo "make dist   build the sdist and wheel into dist/ (what pip, pipx and the Containerfile install)"
	@echo "make containerfile  re-render the Containerfile's package list from .ci/debian-packages.txt"

setup: $(STAMP_DEB) $(STAMP_PY)

$(STAMP_DEB): .ci/debian-packages.txt
	@mkdir -p $(VENV)
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "setup: Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "setup: installing Debian packages:" $$missing; \
	  (apt-get $(APT_WAIT) update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get $(APT_WAIT) install -y -qq --no-install-recommends $$missing >/dev/null \
	  || { echo "setup: apt-get failed for:" $$missing >&2; exit 1; }; \
	else \
	  echo "setup: not root; install these Debian packages first: sudo apt-get install --no-install-recommends" $$missing >&2; exit 1; \
	fi
	@touch $@

$(STAMP_PY): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[test]' \
	  || { echo "setup: pip could not install pebuild[test] into $(VENV)" >&2; exit 1; }
	@touch $@

# The lowest versions pyproject.toml allows, as wheels: tests/packaging installs the built wheel
# with them from here alone (offline), so `make test` proves the lower bounds.
$(WHEELHOUSE)/lowest.txt: pyproject.toml .ci/wheelhouse.py | $(STAMP_PY)
	@$(PY) .ci/wheelhouse.py $(WHEELHOUSE) \
	  || { echo "setup: could not fill $(WHEELHOUSE) with the lowest dependency versions" >&2; exit 1; }

wheelhouse: setup $(WHEELHOUSE)/lowest.txt

test: setup $(WHEELHOUSE)/lowest.txt
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: setup
	$(PY) bench/run.py

# the UEFI stand-in prints the BCD, boot.sdi and boot.wim it found on the disc; smoke compares
# them with the ISO's files (docs/smoke.md); it matches efisys.bin's line, not efisys_noprompt.bin's
UEFI_EXPECT = 'PEBUILD-SAMPLE bootx64\.efi (2023 )?next=\S+ bcd='

smoke: setup
	rm -rf $(DEMO_DIR)/kit $(DEMO_DIR)/pe $(DEMO_DIR)/sample.iso && mkdir -p $(DEMO_DIR)
	$(PEBUILD) sample-source $(DEMO_DIR)/kit --arch amd64
	# copype as the ADK does it: the kit's Media plus winpe.wim as sources/boot.wim (the BIOS chain reads it)
	$(PEBUILD) copype amd64 $(DEMO_DIR)/pe --source $(DEMO_DIR)/kit
	$(PEBUILD) iso $(DEMO_DIR)/pe/media $(DEMO_DIR)/sample.iso \
	  --bios $(DEMO_DIR)/pe/fwfiles/etfsboot.com --uefi $(DEMO_DIR)/pe/fwfiles/efisys.bin
	$(PEBUILD) smoke $(DEMO_DIR)/sample.iso --firmware bios --expect 'PEBUILD-SAMPLE bootmgr bcd=' --screenshot $(DEMO_DIR)/smoke-bios.png
	$(PEBUILD) smoke $(DEMO_DIR)/sample.iso --firmware uefi --expect $(UEFI_EXPECT) --screenshot $(DEMO_DIR)/smoke-uefi.png

demo: setup
	@mkdir -p $(DEMO_DIR)
	$(PEBUILD) make amd64 --recipe capture --source sample -o $(DEMO_DIR)/winpe.iso --manifest $(DEMO_DIR)/manifest.json
	$(PEBUILD) smoke $(DEMO_DIR)/winpe.iso --firmware bios --expect 'PEBUILD-SAMPLE bootmgr bcd='
	$(PEBUILD) smoke $(DEMO_DIR)/winpe.iso --firmware uefi --expect $(UEFI_EXPECT)

dist: setup
	rm -rf dist && $(PY) -m build --outdir dist .

containerfile: setup
	$(PY) .ci/containerfile.py

clean:
	rm -rf build dist .pytest_cache
