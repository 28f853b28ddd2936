# theedgeworks.devpi — the two commands a newcomer needs:  `make demo`  and  `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
COLLECTION_LINK := .collections/ansible_collections/theedgeworks/devpi
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help install debian-tools node images backup-tools cluster-up cluster-down keycloak-up keycloak-down demo test matrix bench lint unit integration e2e molecule consumers clean

help:
	@echo "make demo          local control plane + site.yml with demo inputs, then a summary without values"
	@echo "make test          every test: lint, unit, integration, end-to-end with real consumers, molecule"
	@echo "make cluster-up    start the local kube-apiserver (writes .cluster/kubeconfig)"
	@echo "                   NODE=1: plus a real node (containerd, kubelet, ...; root): pods run"
	@echo "make images        build the node's container images offline (cached; no registry)"
	@echo "make cluster-down  stop it and remove .cluster/"
	@echo "make keycloak-up   start a local Keycloak with the test realm (writes .keycloak/env)"
	@echo "make keycloak-down stop it and remove .keycloak/"
	@echo "make matrix        unit tests + integration smoke set on every ansible-core from 2.17 to 2.21"
	@echo "make backup-tools  build sops into the cache (the encrypted copy's tests; age comes from Debian)"

install: $(VENV)/.installed $(COLLECTION_LINK)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Lets ansible-playbook find this checkout as the collection theedgeworks.devpi (ansible.cfg: collections_path).
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

# NODE=1 adds a node: containerd, kubelet, kube-controller-manager, kube-scheduler, kube-proxy (tools/node.py).
cluster-up: install
	$(PY) tools/cluster.py up $(if $(filter 1 yes true,$(NODE)),--node)

cluster-down:
	@if [ -x $(PY) ]; then $(PY) tools/cluster.py down; else $(PYTHON) tools/cluster.py down; fi

keycloak-up: install
	$(PY) tools/keycloak.py up

keycloak-down:
	@if [ -x $(PY) ]; then $(PY) tools/keycloak.py down; else $(PYTHON) tools/keycloak.py down; fi

demo: cluster-up
	ansible-playbook playbooks/demo_inputs.yml
	ansible-playbook site.yml -e @.cluster/demo/vars.yml
	@echo
	@echo "Secrets in namespace devpi (values stay in the cluster):"
	@kubectl --kubeconfig .cluster/kubeconfig -n devpi get secrets -L app.kubernetes.io/managed-by
	@echo
	@echo "Read the generated basic-auth password:"
	@echo "  kubectl --kubeconfig .cluster/kubeconfig -n devpi get secret devpi-basic-auth-client -o jsonpath='{.data.password}' | base64 -d"

# sops for the encrypted copy (devpi_secrets_backup_file), built from its Go module into the cache (tools/sops.py);
# the tests put its folder first on PATH (tests/helpers/backup.py). age and age-keygen come from Debian
# (`apt-get install age`, see .ci/run).
# Debian packages of the node (runc, iptables, conntrack, iproute2), its images' base (debootstrap) and the encrypted
# copy (age); needs root when one is missing, as `make consumers` does for nginx.
debian-tools:
	@need=""; for p in runc:runc iptables:iptables conntrack:conntrack ip:iproute2 debootstrap:debootstrap age-keygen:age; do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $${p%%:*} >/dev/null || need="$$need $${p#*:}"; done; \
	if [ -n "$$need" ]; then echo "apt-get install$$need"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need >/dev/null; fi

backup-tools: debian-tools
	$(PYTHON) tools/sops.py build

consumers: install
	$(PY) tools/install_consumers.py install

# devpi-server, nginx, oauth2-proxy and pause images for the node (tools/images.py); imported at cluster-up NODE=1.
images: consumers debian-tools
	$(PY) tools/images.py build

# The node's programs (tools/node_build.py: kube-node, containerd and CNI, CoreDNS; cached) and its images.
node: images
	$(PY) tools/node_build.py >/dev/null

lint: install
	ruff check .
	ruff format --check .
	ansible-lint --profile production
	tools/sanity.sh
	antsibull-changelog lint
	tools/check_fragments.sh
	antsibull-changelog generate && git diff --exit-code -- CHANGELOG.md || \
	  { echo "CHANGELOG.md is not what changelogs/changelog.yaml generates: commit the generated one"; exit 1; }

unit: install backup-tools
	$(PY) -m pytest tests/unit -q

integration: install backup-tools
	$(PY) -m pytest tests/controlplane tests/integration -q

e2e: consumers backup-tools
	$(PY) -m pytest tests/e2e -q

# default: the local control plane alone; node: the same role on the cluster with a node, verified from inside a pod
# (tests/molecule/test_molecule_node.py: `molecule test -s node`, then verify against corrupted Secrets; prints its times;
# skips without root and cgroup v1); kind: only where Docker answers.
molecule: install
	molecule test -s default
	$(PY) -m pytest tests/molecule -q -s --durations=0

# Each stage prints its wall time (=== [make test] ...).
test: install consumers backup-tools node
	t=$$(date +%s) && $(MAKE) lint && echo "=== [make test] lint, sanity, changelog: $$(( $$(date +%s) - t ))s"
	# first: it makes the venvs tests/packaging/test_dependency_floors.py reads; the row of the main venv's ansible is
	# left out (the full suite below runs on it)
	t=$$(date +%s) && $(PY) tools/matrix.py --except-main && echo "=== [make test] matrix: $$(( $$(date +%s) - t ))s"
	t=$$(date +%s) && $(PY) -m pytest tests -q -s --durations=15 --ignore=tests/molecule && \
	  echo "=== [make test] pytest: $$(( $$(date +%s) - t ))s"
	t=$$(date +%s) && $(MAKE) molecule && echo "=== [make test] molecule: $$(( $$(date +%s) - t ))s"

# Wall time and API writes of site.yml (first run, re-run, rotation), printed; asserts nothing.
bench: install
	$(PY) benchmarks/bench_site.py

# Every ansible-core minor the collection admits (2.17-2.21, each on the Python it needs): unit tests and the
# integration smoke set, in venvs made by uv in the cache folder (tools/matrix.py). Prints a table.
matrix: install
	$(PY) tools/matrix.py

clean: cluster-down
	rm -rf $(VENV) .venv-sanity .collections .pytest_cache .ruff_cache tests/output
