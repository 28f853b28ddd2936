"""The dependency floors of galaxy.yml (and requirements.yml) are the oldest versions the version matrix tests.

A floor below what the matrix runs admits collections nobody ran the tests on. The oldest row of tools/matrix.py
installs the `ansible` package pinned there, and runs with the collections that package brings. Which ones that
is needs the package (a download), so the versions are a table here, measured once (below), and the test holds
the table to the pin: a new oldest pin without a new measurement fails here.
"""

from __future__ import annotations

import json

import pytest
import yaml

from helpers import REPO, load_tool

matrix = load_tool("matrix.py", "devpi_matrix")
cache = load_tool("cache.py", "devpi_cache")

# Measured for ansible==10.7.0 (the 2.17 row): the version in ansible_collections/<ns>/<name>/MANIFEST.json of the
# matrix's venv for that row (tools/matrix.py, in the cache folder: matrix/core2.17-*/lib/python3.11/site-packages),
# the same as the README's matrix table. Only the collections galaxy.yml depends on.
MEASURED_PIN = "ansible==10.7.0"
SHIPPED = {
    "kubernetes.core": "3.2.0",
    "community.general": "9.5.2",
    "community.crypto": "2.22.3",
    "community.sops": "1.9.1",
}


def oldest_row():
    minor = min(matrix.MATRIX, key=lambda v: tuple(int(part) for part in v.split(".")))
    return minor, matrix.MATRIX[minor][1]


def test_the_table_is_measured_for_the_oldest_pin_of_the_matrix():
    assert oldest_row()[1] == MEASURED_PIN


def test_galaxy_floors_are_what_the_oldest_row_ships():
    dependencies = yaml.safe_load((REPO / "galaxy.yml").read_text())["dependencies"]
    assert dependencies == {name: ">=" + version for name, version in SHIPPED.items()}


def test_requirements_yml_floors_are_the_same():
    collections = yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]
    assert {entry["name"]: entry["version"] for entry in collections} == {
        name: ">=" + version for name, version in SHIPPED.items()
    }


def test_requires_ansible_is_the_oldest_row():
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == ">=%s.0" % oldest_row()[0]


def test_the_table_matches_the_matrix_venv_when_there_is_one():
    """Re-measures the table where the matrix has already made the oldest row's venv (no download here)."""
    pin = oldest_row()[1]
    venvs = [
        marker.parent
        for marker in sorted((cache.cache_root() / "matrix").glob("core*/.complete"))
        if marker.read_text().strip() == pin
    ]
    if not venvs:
        pytest.skip("no matrix venv for %s in the cache folder (python tools/matrix.py makes it)" % pin)
    for name in SHIPPED:
        (manifest,) = venvs[0].glob(
            "lib/python*/site-packages/ansible_collections/%s/MANIFEST.json" % name.replace(".", "/")
        )
        assert json.loads(manifest.read_text())["collection_info"]["version"] == SHIPPED[name], name
