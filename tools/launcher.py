"""The lifecycle both launchers share (tools/cluster.py, tools/keycloak.py): one server process out of a state dir.

`up` under the state dir's lock: an instance that runs and is ready is kept; one that runs but is not ready yet is
waited for; else a stale one's files are removed and a new one is started and waited for. Only a ready instance gets
its contract file (the control plane's kubeconfig, Keycloak's env), which other tools read. `down` stops it, waits
until its ports close and removes the state dir. `status` says whether it runs and is ready.

A launcher subclasses Launcher with what is its own: `_prepare` (build or fetch what it runs), `_start`, `healthy`,
`pid` (with its guard against a recycled pid), `_write_contract`, `_cleanup_stale`, `_ports`, and the fields it adds
to `status`. The process mechanics are in tools/procs.py. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
import procs  # noqa: E402

STOP_TIMEOUT = 30.0


class Launcher:
    KIND = ""  # the lock's name: one lock per kind and state dir
    WHAT = ""  # how messages name the server
    LOG_NAME = ""
    CONTRACT_NAME = ""  # written only while the server is ready
    ERROR: type[Exception] = RuntimeError
    READY_INTERVAL = 0.5  # seconds between readiness checks
    KILL_GROUP = False  # SIGKILL its process group too (a wrapper script and the program it started)

    def __init__(
        self,
        state_dir: Path,
        *,
        ready_timeout: float,
        die_with_parent: bool = False,
        log: Callable[[str], None] | None = None,
    ):
        self.state_dir = state_dir
        self.ready_timeout = ready_timeout
        self.die_with_parent = die_with_parent
        self.log = log or (lambda msg: print(msg, flush=True))
        self.last_ready_seconds: float | None = None
        self._proc: subprocess.Popen | None = None  # ours once started: an early exit is reaped, its code known

    # -- files
    @property
    def log_file(self) -> Path:
        return self.state_dir / self.LOG_NAME

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pid"

    @property
    def contract_file(self) -> Path:
        return self.state_dir / self.CONTRACT_NAME

    def _lock(self):
        return procs.state_lock(self.KIND, self.state_dir)

    @staticmethod
    def _read_json(path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    # -- what a launcher says
    def pid(self) -> int | None:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    @property
    def address(self) -> str | None:
        """Where it answers, for messages."""
        raise NotImplementedError

    def _prepare(self):
        """Checks and builds before a start; returns what _start needs."""
        raise NotImplementedError

    def _start(self, prepared):
        raise NotImplementedError

    def _write_contract(self) -> None:
        raise NotImplementedError

    def _cleanup_stale(self) -> None:
        raise NotImplementedError

    def _ports(self) -> list[int]:
        """The ports the instance listens on (from its state dir)."""
        raise NotImplementedError

    def _status_fields(self, pid: int | None) -> dict:
        return {}

    # -- lifecycle
    def up(self):
        with self._lock():
            pid = self.pid()
            if pid is not None:
                if self.healthy() and self.contract_file.exists():
                    self.log(f"{self.WHAT} already running (pid {pid}, {self.address})")
                    return self
                # running but not (yet) ready: e.g. a concurrent or crashed `up` -- wait for it
                self._wait_ready(pid, time.monotonic())
                self._write_contract()
                return self
            self._cleanup_stale()
            return self._start(self._prepare())

    def _spawn(self, args: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen:
        self._proc = procs.spawn(
            args,
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.state_dir,
            env=env,
            die_with_parent=self.die_with_parent,
        )
        return self._proc

    def _wait_ready(self, pid: int, t0: float) -> None:
        def failed(exited: bool) -> None:
            self._stop_after_failed_start(pid, exited)
            procs.remove_files(self.pid_file, self.contract_file)

        procs.wait_ready(
            self.WHAT,
            pid,
            self.healthy,
            t0=t0,
            timeout=self.ready_timeout,
            log_file=self.log_file,
            on_failure=failed,
            error=self.ERROR,
            proc=self._proc,
            interval=self.READY_INTERVAL,
        )

    def _stop_after_failed_start(self, pid: int, exited: bool) -> None:
        if not exited:
            self._terminate(pid)

    def _terminate(self, pid: int, timeout: float = STOP_TIMEOUT) -> None:
        procs.terminate(pid, timeout, log=self.log, proc=self._proc, kill_group=self.KILL_GROUP)

    def _stop(self, timeout: float) -> bool:
        """Stop what runs of this instance; True if anything did."""
        pid = self.pid()
        if pid is not None:
            self._terminate(pid, timeout)
        return pid is not None

    def down(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop the instance and remove the state dir. True if one was running."""
        with self._lock():
            ports = self._ports()
            running = self._stop(timeout)
            still = procs.wait_ports_closed(ports)
            if running and still:
                raise self.ERROR(f"ports {still} still answer after stopping the {self.WHAT} of {self.state_dir}")
            if self.state_dir.exists():
                shutil.rmtree(self.state_dir)
            return running

    def status(self) -> dict:
        pid = self.pid()
        out = {"state_dir": str(self.state_dir), "running": pid is not None, "pid": pid}
        out.update(self._status_fields(pid))
        out["log"] = str(self.log_file)
        return out


def default_state_dir(env_var: str, fallback: Path) -> Path:
    env = os.environ.get(env_var)
    return Path(env).expanduser().resolve() if env else fallback


def cli(
    argv: Sequence[str] | None,
    *,
    prog: str,
    doc: str,
    state_dir_help: str,
    launcher: Callable[..., Launcher],
    up_hint: Callable[[Launcher], str],
    commands: Mapping[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable]] | None = None,
    default_ready_timeout: float,
    up_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    launcher_kwargs: Callable[[argparse.Namespace], dict] | None = None,
) -> int:
    """The launchers' command line: up, down, status, and `commands` of their own (name: help, add arguments,
    run(launcher, args) -> exit code or None). `launcher(state_dir, ready_timeout=..., **launcher_kwargs(args))`
    makes the instance; up_arguments adds options to `up`."""
    ap = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-dir", help=state_dir_help)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build or fetch what it runs if needed, start, wait until ready (idempotent)")
    p_up.add_argument("--timeout", type=float, default=default_ready_timeout, help="seconds to wait for ready")
    if up_arguments:
        up_arguments(p_up)
    sub.add_parser("down", help="stop and remove the state dir")
    sub.add_parser("status", help="exit 0 if running and ready, 1 if running but not ready, 3 if stopped")
    for name, (help_text, add_arguments, _run) in (commands or {}).items():
        add_arguments(sub.add_parser(name, help=help_text))
    args = ap.parse_args(argv)

    extra = launcher_kwargs(args) if launcher_kwargs else {}
    instance = launcher(args.state_dir, ready_timeout=getattr(args, "timeout", default_ready_timeout), **extra)
    try:
        if args.cmd == "up":
            instance.up()
            print(up_hint(instance))
        elif args.cmd == "down":
            print("stopped" if instance.down() else "not running", f"(removed {instance.state_dir})")
        elif args.cmd == "status":
            st = instance.status()
            print(json.dumps(st, indent=2))
            return 0 if st["ready"] else (1 if st["running"] else 3)
        else:
            return commands[args.cmd][2](instance, args) or 0
    except instance.ERROR as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
