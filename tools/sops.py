"""The `sops` binary and the `age` tools the encrypted copy of the generated values needs (tests, `make demo`).

    python tools/sops.py build     # go build sops into the cache (about 75 s cold), print its path
    python tools/sops.py path      # print the cached binary's path; exit 1 when it is not built
    python tools/sops.py check     # exit 1 and say what is missing (sops built, age and age-keygen installed)

* sops: built from the Go module ``tools/sops`` (its go.mod names ``github.com/getsops/sops/v3/cmd/sops`` through a
  ``tool`` directive and pins the version) into ``<cache>/sops-<version>-<hash of go.mod and go.sum>/sops``
  (tools/gobuild.py's ``go_build``: locked, temporary file renamed into place).
* age, age-keygen: the Debian package ``age`` (``apt-get install age``; .ci/run installs it).

The role finds sops on ``PATH`` (community.sops' rule) or through ``$SOPS_BINARY`` ... the Makefile puts the cached
binary's folder first on ``PATH`` for the tests. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
from cache import cache_root, short_hash  # noqa: E402
from gobuild import GoBuildError, go_build  # noqa: E402

SOPS_MODULE_DIR = Path(__file__).resolve().parent / "sops"
SOPS_PACKAGE = "github.com/getsops/sops/v3/cmd/sops"
SOPS_VERSION = "v3.13.3"  # must match tools/sops/go.mod
AGE_HINT = "apt-get install age"


class ToolMissing(RuntimeError):
    """sops is not built or age is not installed; str() says what to run."""


def sops_cache_dir() -> Path:
    key = short_hash((SOPS_MODULE_DIR / "go.mod").read_bytes(), (SOPS_MODULE_DIR / "go.sum").read_bytes())
    return cache_root() / f"sops-{SOPS_VERSION}-{key}"


def sops_binary() -> Path:
    """The cached sops binary; ToolMissing when it is not built."""
    exe = sops_cache_dir() / "sops"
    if not os.access(exe, os.X_OK):
        raise ToolMissing(f"sops {SOPS_VERSION} is not built: run `make backup-tools` (python tools/sops.py build)")
    return exe


def age_binaries() -> dict[str, str]:
    """``{"age": path, "age-keygen": path}``; ToolMissing when Debian's age is not installed."""
    found = {name: shutil.which(name) for name in ("age", "age-keygen")}
    if not all(found.values()):
        raise ToolMissing(f"age/age-keygen not found: {AGE_HINT}")
    return found  # type: ignore[return-value]


def build(log=print) -> Path:
    exe = sops_cache_dir() / "sops"
    return go_build(
        SOPS_MODULE_DIR,
        exe,
        package=SOPS_PACKAGE,
        flags=["-mod=readonly", "-trimpath"],
        ldflags="-s -w",
        env={"CGO_ENABLED": "0"},
        what=f"sops {SOPS_VERSION}",
        log=log,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "path", "check"))
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(build(log=lambda msg: print(msg, file=sys.stderr)))
        elif args.command == "path":
            print(sops_binary())
        else:
            sops_binary()
            age_binaries()
    except (ToolMissing, GoBuildError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
