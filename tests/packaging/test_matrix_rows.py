"""`make test` leaves out the matrix row the full suite already runs (tools/matrix.py --except-main): that row must
exist and be exactly the main venv's ansible and Python, or the suite's own version would be missing from the
README's matrix table - and a row that is not the main venv's would be left out untested."""

from __future__ import annotations

import sys

from helpers import load_tool
from helpers.kube import REPO

matrix = load_tool("matrix.py", "devpi_matrix_rows")


def test_the_row_left_out_is_the_main_venvs():
    row = matrix.main_row()
    assert row in matrix.MATRIX
    python, pin = matrix.MATRIX[row]
    assert pin in (REPO / "requirements-dev.txt").read_text().split()
    assert python == "%d.%d" % sys.version_info[:2]
    import ansible  # the main venv's, which runs the full suite

    assert ansible.__version__.startswith(row + ".")
