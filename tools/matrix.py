#!/usr/bin/env python3
"""The version matrix: the unit tests and the integration smoke set on every ansible-core minor the collection admits.

    python tools/matrix.py [--only 2.17,2.21] [--jobs N] [--markdown FILE]

meta/runtime.yml says `requires_ansible: ">=2.17.0"`; every minor from there that installs here runs
`pytest tests/unit tests/integration/test_smoke.py tests/integration/test_nolog_failures.py`, each in a venv of its
own made with uv in the cache folder (tools/cache.py; keyed by its pins, so a second run installs nothing) from the
`ansible` package of that minor - so with the kubernetes.core, community.general and community.crypto that package
brings - on the Python it needs
(ansible-core 2.20 and later need Python >= 3.12; pyenv's, else pythonX.Y on PATH). Each pytest session starts its
own local control plane, so rows run side by side (--jobs, default 2): a row's pytest and its ansible-playbook runs
keep about one core busy. Measured on 2 cores: rows 2.17 and 2.18 one at a time 162 s, side by side 75 s; the four
rows of `make test` 2 at a time 200 s, 4 at a time 188 s. The full suite (make test) runs on the main venv's ansible
(requirements-dev.txt).

Prints one row per minor: ansible-core, Python, ansible, kubernetes.core, community.general, community.crypto, result,
seconds (and writes them as a Markdown table with --markdown). Exit 1 when a row fails or cannot be installed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
from cache import cache_root, flock, short_hash  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# ansible-core minor -> (Python, the `ansible` package of that minor). Newest releases as of 2026-11.
MATRIX = {
    "2.17": ("3.11", "ansible==10.7.0"),
    "2.18": ("3.11", "ansible==11.13.0"),
    "2.19": ("3.11", "ansible==12.3.0"),
    "2.20": ("3.12", "ansible==13.8.0"),
    "2.21": ("3.13", "ansible==14.5.0"),
}
# The runtime needs (requirements.txt) and the test tools the unit tests use, pinned as in requirements-dev.txt.
PACKAGES = ["-r", str(REPO / "requirements.txt"), "pytest==9.2.0", "hypothesis==6.170.17"]
# test_nolog_failures: ansible-core 2.19+ prints the failure text of a no_log task, 2.17 does not (issue 15).
TESTS = ["tests/unit", "tests/integration/test_smoke.py", "tests/integration/test_nolog_failures.py"]


def find_python(version: str) -> str | None:
    candidates = sorted((Path.home() / ".pyenv" / "versions").glob(f"{version}.*/bin/python{version}"))
    if candidates:
        return str(candidates[-1])
    return shutil.which(f"python{version}")


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not os.access(found, os.X_OK):
        raise SystemExit("uv not found: it is in requirements-dev.txt (make install)")
    return found


def ensure_venv(minor: str, python: str, ansible_pin: str) -> Path:
    """The venv of a row, made once (uv, under a lock, a marker file written last)."""
    key = short_hash(
        python.encode(), ansible_pin.encode(), (REPO / "requirements.txt").read_bytes(), *map(str.encode, PACKAGES)
    )
    venv = cache_root() / "matrix" / f"core{minor}-{key}"
    marker = venv / ".complete"
    if marker.exists():
        return venv
    env = dict(os.environ, UV_CACHE_DIR=str(cache_root() / "uv"))
    with flock(venv.parent / f".{venv.name}.lock"):
        if marker.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([uv(), "venv", "-q", "--python", python, str(venv)], check=True, env=env)
        subprocess.run(
            [uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), ansible_pin, *PACKAGES],
            check=True,
            env=env,
        )
        marker.write_text(ansible_pin + "\n")
    return venv


def versions(venv: Path) -> dict:
    """ansible-core and the collections the venv's `ansible` package brings."""
    script = (
        "import json, ansible, ansible_collections, pathlib\n"
        "root = pathlib.Path(list(ansible_collections.__path__)[0])\n"
        "out = {'ansible-core': ansible.__version__}\n"
        "for name in ('kubernetes/core', 'community/general', 'community/crypto'):\n"
        "    info = json.loads((root / name / 'MANIFEST.json').read_text())['collection_info']\n"
        "    out[name.replace('/', '.')] = info['version']\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def run_row(minor: str) -> dict:
    version, ansible_pin = MATRIX[minor]
    row = {
        "minor": minor,
        "python": version,
        "ansible": ansible_pin.split("==")[1],
        "result": "not run",
        "seconds": 0.0,
    }
    python = find_python(version)
    if python is None:
        row["result"] = f"python{version} not found"
        return row
    t0 = time.monotonic()
    try:
        venv = ensure_venv(minor, python, ansible_pin)
    except subprocess.CalledProcessError as e:
        row["result"] = f"install failed ({e.returncode})"
        return row
    row.update(versions(venv))
    row["install_seconds"] = round(time.monotonic() - t0, 1)
    env = dict(os.environ)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    t1 = time.monotonic()
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    row["seconds"] = round(time.monotonic() - t1, 1)
    summary = next((ln for ln in reversed(proc.stdout.splitlines()) if " passed" in ln or " failed" in ln), "")
    row["result"] = ("passed" if proc.returncode == 0 else "FAILED") + (f" ({summary.strip('= ')})" if summary else "")
    if proc.returncode != 0:
        print(proc.stdout[-6000:] + proc.stderr[-2000:], flush=True)
    return row


def markdown(rows: list[dict]) -> str:
    lines = [
        "| ansible-core | Python | ansible | kubernetes.core | community.general | community.crypto | result | s |",
        "|---|---|---|---|---|---|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.get('ansible-core', r['minor'])} | {r['python']} | {r['ansible']} | {r.get('kubernetes.core', '?')} "
            f"| {r.get('community.general', '?')} | {r.get('community.crypto', '?')} | {r['result']} | {r['seconds']} |"
        )
    return "\n".join(lines) + "\n"


def main_row() -> str | None:
    """The row whose ansible pin and Python are the main venv's (requirements-dev.txt, the Python running make)."""
    pins = (REPO / "requirements-dev.txt").read_text().split()
    python = "%d.%d" % sys.version_info[:2]
    for minor, (version, pin) in MATRIX.items():
        if pin in pins and version == python:
            return minor
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated minors, e.g. 2.17,2.21 (default: all)")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--jobs", type=int, default=2, help="rows run at once (default 2)")
    ap.add_argument(
        "--except-main",
        action="store_true",
        help="leave out the row the full suite already runs (same ansible pin and Python as requirements-dev.txt)",
    )
    args = ap.parse_args(argv)
    minors = args.only.split(",") if args.only else list(MATRIX)
    if args.except_main:
        same = main_row()
        if same in minors:
            print(f"[matrix] ansible-core {same}: left out, the full suite runs on it ({MATRIX[same][1]})", flush=True)
            minors.remove(same)
    t0 = time.monotonic()

    def timed_row(minor):
        row = run_row(minor)
        since = time.monotonic() - t0
        print(f"[matrix] ansible-core {minor}: {row['result']} ({since:.0f}s since the start)", flush=True)
        return row

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(timed_row, minors))  # in the order of the matrix, whichever ends first
    print(f"[matrix] {len(rows)} rows, {max(1, args.jobs)} at a time: {time.monotonic() - t0:.0f}s", flush=True)
    table = markdown(rows)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table)
    return 0 if all(r["result"].startswith("passed") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
