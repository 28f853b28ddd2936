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


def test_rows_run_side_by_side_and_are_reported_in_matrix_order(monkeypatch, capsys):
    """--jobs 2: two rows are running at once (a row mostly keeps one core busy), the table keeps the matrix's order
    whichever row ends first, and a failed row still fails the run."""
    import threading
    import time

    running, most = set(), [0]
    lock = threading.Lock()
    durations = {"2.17": 0.4, "2.18": 0.1, "2.20": 0.1, "2.21": 0.1}

    def fake_row(minor):
        with lock:
            running.add(minor)
            most[0] = max(most[0], len(running))
        time.sleep(durations[minor])
        with lock:
            running.discard(minor)
        result = "FAILED" if minor == "2.21" else "passed"
        return {"minor": minor, "python": "3", "ansible": "x", "seconds": 0, "result": result}

    monkeypatch.setattr(matrix, "run_row", fake_row)
    rc = matrix.main(["--only", "2.17,2.18,2.20,2.21", "--jobs", "2"])
    table = capsys.readouterr().out.split("| ansible-core | Python")[1]
    assert rc == 1
    assert most[0] == 2
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:6]] == ["2.17", "2.18", "2.20", "2.21"]
