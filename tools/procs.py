"""Processes and files of the launchers (tools/cluster.py, tools/keycloak.py) and of the e2e tests' servers.

What both do alike with the one server process each runs out of a state dir: the lock of a
state dir, a file written atomically with a mode, the start of the child (its log, its own
session, optionally SIGTERM when the parent dies, its pid file), whether a pid still runs and
what it runs, the wait until it is ready, its stop (SIGTERM, then SIGKILL), the wait for its
ports to close, and the removal of a stale instance's files. The lifecycle built on them (up,
down, status) is tools/launcher.py; what a launcher checks, starts and reports stays in the
launcher. The e2e tests (tests/e2e/drivers/proc.py, loaded by tests/helpers/tools.py) start their
servers with spawn (no pid file), show their logs with tail and stop them with stop_group.
Linux (/proc, PR_SET_PDEATHSIG); standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
from cache import cache_root, flock  # noqa: E402
from ports import port_open  # noqa: E402

# --------------------------------------------------------------------------- files


def state_lock(kind: str, state_dir: Path):
    """The lock of one state dir (in the cache, so that removing the state dir keeps it)."""
    key = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return flock(cache_root() / "locks" / f"{kind}-{key}.lock")


def atomic_write(path: Path, text: str, mode: int = 0o600) -> None:
    """Write text to path through a temporary file with `mode`, renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def tail(path: Path, lines: int = 40, missing: str = "(no log)") -> str:
    """The last lines of a log (from its last 64 KiB); `missing` when there is no log."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            data = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return missing
    return "\n".join(data.splitlines()[-lines:])


def remove_files(*paths: Path) -> None:
    for f in paths:
        with contextlib.suppress(FileNotFoundError):
            f.unlink()


def remove_stale(dirs: Iterable[Path], files: Iterable[Path], log_file: Path) -> None:
    """Remove a previous instance's dirs and files; its log is kept as <log>.1."""
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    remove_files(*files)
    if log_file.exists():
        os.replace(log_file, log_file.with_name(log_file.name + ".1"))


# --------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    """True while pid runs (zombies count as dead; our own zombie children are reaped)."""
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False

    def state(stat_path: str) -> str:
        with open(stat_path) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]

    try:
        if state(f"/proc/{pid}/stat") not in ("Z", "X"):
            return True
        # a multi-threaded process's leader turns zombie before its other threads
        # have exited and released the process's sockets: alive while any task is
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError):
                if state(f"/proc/{pid}/task/{task}/stat") not in ("Z", "X"):
                    return True
        return False
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def cmdline(pid: int) -> list[str]:
    """The arguments pid runs with ([] when unknown)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def live_pid(pid_file: Path, ours: Callable[[list[str]], bool]) -> int | None:
    """The pid in pid_file while it runs and `ours(its cmdline)` holds (a guard against a recycled pid)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not pid_alive(pid) or not ours(cmdline(pid)):
        return None
    return pid


def set_pdeathsig() -> None:
    """In the child before exec: receive SIGTERM when the parent dies."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def spawn(
    args: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    die_with_parent: bool = False,
    header: bool = True,
) -> subprocess.Popen:
    """Start args in its own session, output appended to log_file (after a line naming the command, unless
    header=False), and write its pid_file (if any). die_with_parent: it gets SIGTERM when this process dies."""
    with open(log_file, "ab") as logfh:
        if header:
            logfh.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} {shlex.join(args)}\n".encode())
            logfh.flush()
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=logfh,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
            preexec_fn=set_pdeathsig if die_with_parent else None,
        )
    if pid_file is not None:
        atomic_write(pid_file, f"{proc.pid}\n", 0o644)
    return proc


def wait_ready(
    what: str,
    pid: int,
    ready: Callable[[], bool],
    *,
    t0: float,
    timeout: float,
    log_file: Path,
    on_failure: Callable[[bool], None],
    error: type[Exception],
    proc: subprocess.Popen | None = None,
    interval: float = 0.5,
) -> None:
    """Poll `ready` until it holds. When pid exits first, or `timeout` after t0 has passed, call
    on_failure(exited) and raise `error` with the tail of log_file. proc: pid's Popen, if ours."""
    deadline = t0 + timeout
    while True:
        rc = proc.poll() if proc is not None and proc.pid == pid else None
        if rc is not None or not pid_alive(pid):
            on_failure(True)
            raise error(
                f"{what} exited during startup (exit code {rc if rc is not None else '?'}); "
                f"last lines of {log_file}:\n{tail(log_file)}"
            )
        if ready():
            return
        if time.monotonic() > deadline:
            on_failure(False)
            raise error(
                f"{what} not ready after {timeout:.0f}s; stopped it. last lines of {log_file}:\n{tail(log_file)}"
            )
        time.sleep(interval)


def terminate(
    pid: int,
    timeout: float,
    *,
    log: Callable[[str], None],
    proc: subprocess.Popen | None = None,
    kill_group: bool = False,
) -> None:
    """SIGTERM, up to `timeout` seconds to exit, then SIGKILL (kill_group: to its process group too).
    proc: pid's Popen, if ours, reaped afterwards."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        log(f"pid {pid} still running after {timeout:.0f}s; sending SIGKILL")
        if kill_group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    if proc is not None and proc.pid == pid:
        with contextlib.suppress(Exception):
            proc.wait(timeout=1)


def stop_group(proc: subprocess.Popen, timeout: float = 10, kill_timeout: float = 5) -> None:
    """Stop our child `proc` (started in a session of its own) and its process group: SIGTERM to the group, up to
    `timeout` seconds to exit, then SIGKILL to the group and up to kill_timeout more. Nothing if it has exited."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, kill_timeout)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_ports_closed(ports: Iterable[int], timeout: float = 15.0) -> list[int]:
    """Wait until no port of `ports` answers any more; those still answering after `timeout`."""
    ports = list(ports)
    deadline = time.monotonic() + timeout
    while any(port_open(p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in ports if port_open(p)]
