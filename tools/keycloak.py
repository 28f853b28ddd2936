#!/usr/bin/env python3
"""A real, local Keycloak for tests -- no Docker needed.

Downloads (once, cached outside the repo) the Keycloak distribution from Maven Central,
verifies it against the SHA-256 committed here (TARBALL_SHA256), and runs `kc.sh start-dev` on 127.0.0.1 on a free port,
with the test realm (tests/keycloak/realm-theedgeworks.json) imported at start.

    python3 tools/keycloak.py fetch     # download + verify + unpack only
    python3 tools/keycloak.py up        # fetch if needed, start, wait until the realm answers
    python3 tools/keycloak.py status
    python3 tools/keycloak.py down      # stop and remove the state dir

State dir: --state-dir, else $DEVPI_KEYCLOAK_DIR, else <repo>/.keycloak. It holds
instance.json (port, bootstrap admin; 0600), pid, keycloak.log, home/ (the instance's
Keycloak home: its own data/ with the H2 database and data/import/, its own lib/quarkus,
everything else symlinked into the cached distribution) and -- only once ready -- env
(0600) with KEYCLOAK_URL, KEYCLOAK_ADMIN_USERNAME, KEYCLOAK_ADMIN_PASSWORD (the master
realm's bootstrap admin). Instances share no state; each start is a fresh database.

Cache (tools/cache.py): keycloak-quarkus-dist-<version>.tar.gz is the tarball, checked
against TARBALL_SHA256 before it is unpacked; keycloak-<version>/ is the unpacked distribution,
never written by a running Keycloak, and checked against TREE_SHA256 (tree_digest) on every use
(about a second); a cached tarball or tree that does not match is refused, never used.
The first start of an instance runs Quarkus' augmentation for the dev profile
(`kc.sh build` cannot build that profile) into the instance's own lib/quarkus;
once that instance is ready its lib/quarkus is published, under a lock,
as keycloak-<version>-augmented-<key>/ and seeds later instances, which then skip the
augmentation. $DEVPI_KEYCLOAK_HOME uses an unpacked distribution elsewhere instead.
$DEVPI_KEYCLOAK_EXTRA_ARGS adds kc.sh start-dev options (whitespace separated).
Inherited KC_* and KEYCLOAK_ADMIN* variables are not passed to Keycloak.

Python API (used by tests):

    kc = Keycloak(state_dir, die_with_parent=True).up()
    kc.url, kc.admin_username, kc.admin_password, kc.last_ready_seconds
    kc.down()

Needs `java` (17 or newer) on PATH or $JAVA_HOME. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
import launcher  # noqa: E402
import procs  # noqa: E402
from cache import cache_root, flock, short_hash  # noqa: E402
from ports import free_port, port_open  # noqa: E402, F401 -- port_open and pid_alive: also for the tests
from procs import pid_alive  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VERSION = "26.7.3"
MAVEN_DIR = f"https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/{VERSION}"
TARBALL_NAME = f"keycloak-quarkus-dist-{VERSION}.tar.gz"
TARBALL_URL = f"{MAVEN_DIR}/{TARBALL_NAME}"
# Committed, not fetched from the server that serves the tarball. Measured 2026-12-02 with sha256sum on a download
# whose SHA-1 and SHA-256 matched the .sha1 and .sha256 Maven Central publishes beside it, and whose unpacked tree
# was identical (diff -r) to the one fetched earlier with the SHA-1 check. A new VERSION needs both measured again.
TARBALL_SHA256 = "77657f30b7e90d70f727712ce1c967f430fd6a5e9f458d32d8c6df0635345f47"
# tree_digest() of that tarball unpacked: the cached distribution is checked against it each time it is used.
TREE_SHA256 = "040c707052cc414a0f825365cdd3bb56df0c123024771dced9cbf73c811e6de7"
REALM = "theedgeworks"
DEFAULT_REALM_FILES = (REPO / "tests" / "keycloak" / "realm-theedgeworks.json",)
ADMIN_USERNAME = "admin"
DEFAULT_READY_TIMEOUT = 300.0
# the environment of the calling shell must not configure the test instance
DROPPED_ENV_PREFIXES = ("KC_", "KEYCLOAK_ADMIN", "QUARKUS_")
AUGMENTATION_MARK = "Updating the configuration"  # kc.sh's first line when it (re)builds itself


class KeycloakError(RuntimeError):
    """Fetch/start/stop failed. str() includes the tail of the Keycloak log when known."""


# --------------------------------------------------------------------------- paths and small helpers


def default_state_dir() -> Path:
    return launcher.default_state_dir("DEVPI_KEYCLOAK_DIR", REPO / ".keycloak")


def dist_dir() -> Path:
    """The unpacked distribution (bin/kc.sh, lib/, conf/, ...)."""
    env = os.environ.get("DEVPI_KEYCLOAK_HOME")
    return Path(env).expanduser().resolve() if env else cache_root() / f"keycloak-{VERSION}"


def _augmented_dir(extra_args: Sequence[str]) -> Path:
    """Cached lib/quarkus of a dev-profile augmentation with these extra start-dev options."""
    key = short_hash(str(dist_dir()).encode(), VERSION.encode(), *(a.encode() for a in extra_args))
    return cache_root() / f"keycloak-{VERSION}-augmented-{key}"


def java_binary() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(Path(java_home) / "bin" / "java", os.X_OK):
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


# --------------------------------------------------------------------------- fetch


def _get(url: str, timeout: float = 60.0):
    if not url.startswith("https://"):
        raise KeycloakError(f"refusing a non-https download: {url}")
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 -- https only, checked above


def _safe_extract(tgz: Path, dest: Path) -> None:
    with tarfile.open(tgz) as tf:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.12 and the 3.8-3.11 security releases
            tf.extractall(dest, filter="data")
            return
        root = dest.resolve()
        for m in tf.getmembers():
            target = (dest / m.name).resolve()
            if root not in target.parents or m.issym() or m.islnk() or m.isdev():
                raise KeycloakError(f"unexpected member in {tgz.name}: {m.name}")
        tf.extractall(dest)  # noqa: S202 -- members checked above


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(root: Path) -> str:
    """SHA-256 over every entry under ``root``: its relative path, its kind, and a file's owner-execute bit and
    content SHA-256 or a symlink's target (modification times and other permission bits are left out)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            line = f"l {rel} {os.readlink(path)}"
        elif path.is_dir():
            line = f"d {rel}"
        elif path.is_file():
            line = f"f {rel} {'x' if path.stat().st_mode & 0o100 else '-'} {_sha256_file(path)}"
        else:
            line = f"o {rel}"
        h.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()


def _verified_tree(target: Path) -> Path:
    got = tree_digest(target)
    if got != TREE_SHA256:
        raise KeycloakError(
            f"the cached {target} is not the Keycloak {VERSION} distribution (tree SHA-256 {got}, committed "
            f"{TREE_SHA256}): refused; remove it to fetch again"
        )
    return target


def _download(tgz: Path, log: Callable[[str], None]) -> None:
    """The tarball from Maven Central into ``tgz``, checked against TARBALL_SHA256 while it is written."""
    log(f"downloading {TARBALL_URL} ...")
    t0 = time.monotonic()
    h = hashlib.sha256()
    try:
        with _get(TARBALL_URL) as r, open(tgz, "wb") as fh:
            for chunk in iter(lambda: r.read(1 << 20), b""):
                h.update(chunk)
                fh.write(chunk)
    except (OSError, urllib.error.URLError) as e:
        raise KeycloakError(f"download failed: {e}") from e
    if h.hexdigest() != TARBALL_SHA256:
        raise KeycloakError(f"SHA-256 mismatch for {TARBALL_URL}: got {h.hexdigest()}, committed {TARBALL_SHA256}")
    log(f"downloaded {tgz.stat().st_size / 1e6:.0f} MB in {time.monotonic() - t0:.1f}s (SHA-256 verified)")


def ensure_dist(log: Callable[[str], None] = print) -> Path:
    """Path of the unpacked distribution, checked; downloaded (or taken from the cached tarball), checked and
    unpacked into the cache if needed. A cached tarball or tree that is not the committed one is refused."""
    target = dist_dir()
    if os.environ.get("DEVPI_KEYCLOAK_HOME"):  # the developer's own choice, outside the cache: used as it is
        if (target / "bin" / "kc.sh").is_file():
            return target
        raise KeycloakError(f"DEVPI_KEYCLOAK_HOME={target} has no bin/kc.sh")
    root = cache_root()
    with flock(root / f".keycloak-{VERSION}.lock"):
        if target.exists():  # unpacked earlier (or by someone else meanwhile)
            return _verified_tree(target)
        tgz = root / TARBALL_NAME
        tmp = Path(tempfile.mkdtemp(prefix=f".keycloak-{VERSION}.", dir=root))
        try:
            if tgz.is_file():
                got = _sha256_file(tgz)
                if got != TARBALL_SHA256:
                    raise KeycloakError(
                        f"the cached {tgz} is not the Keycloak {VERSION} tarball (SHA-256 {got}, committed "
                        f"{TARBALL_SHA256}): refused; remove it to fetch again"
                    )
                log(f"using the cached {tgz} (SHA-256 verified)")
            else:
                _download(tmp / TARBALL_NAME, log)
                os.replace(tmp / TARBALL_NAME, tgz)
            t0 = time.monotonic()
            _safe_extract(tgz, tmp / "x")
            inner = tmp / "x" / f"keycloak-{VERSION}"
            if not (inner / "bin" / "kc.sh").is_file():
                raise KeycloakError(f"{TARBALL_NAME} has no keycloak-{VERSION}/bin/kc.sh")
            os.replace(_verified_tree(inner), target)
            log(f"unpacked into {target} in {time.monotonic() - t0:.1f}s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- instance


class Keycloak(launcher.Launcher):
    """One Keycloak instance, identified by its state dir (lifecycle: tools/launcher.py)."""

    KIND = "keycloak"
    WHAT = "keycloak"
    LOG_NAME = "keycloak.log"
    CONTRACT_NAME = "env"  # see env_file
    ERROR = KeycloakError
    KILL_GROUP = True  # kc.sh forwards SIGTERM to the JVM; a SIGKILL must reach the JVM too

    def __init__(
        self,
        state_dir: str | os.PathLike | None = None,
        *,
        realm_files: Iterable[str | os.PathLike] = DEFAULT_REALM_FILES,
        extra_args: Iterable[str] = (),
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        die_with_parent: bool = False,
        log: Callable[[str], None] | None = None,
    ):
        """die_with_parent: Keycloak gets SIGTERM when the process that started it dies
        (Linux PR_SET_PDEATHSIG) -- for test sessions that may be killed without running
        their teardown. Not for the CLI `up`."""
        super().__init__(
            Path(state_dir).expanduser().resolve() if state_dir else default_state_dir(),
            ready_timeout=ready_timeout,
            die_with_parent=die_with_parent,
            log=log,
        )
        self.realm_files = [Path(f) for f in realm_files]
        self.extra_args = list(extra_args) + shlex.split(os.environ.get("DEVPI_KEYCLOAK_EXTRA_ARGS", ""))
        self.last_start_augmented: bool | None = None

    # -- files
    @property
    def home(self) -> Path:
        return self.state_dir / "home"

    @property
    def env_file(self) -> Path:
        """KEYCLOAK_URL=..., KEYCLOAK_ADMIN_USERNAME=..., KEYCLOAK_ADMIN_PASSWORD=...; only while ready."""
        return self.contract_file

    @property
    def instance_file(self) -> Path:
        return self.state_dir / "instance.json"

    def instance(self) -> dict | None:
        return self._read_json(self.instance_file)

    @property
    def port(self) -> int | None:
        inst = self.instance()
        return inst["port"] if inst else None

    def _ports(self) -> list[int]:
        return [self.port] if self.port else []

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None

    address = url

    @property
    def admin_username(self) -> str | None:
        inst = self.instance()
        return inst["admin_username"] if inst else None

    @property
    def admin_password(self) -> str | None:
        inst = self.instance()
        return inst["admin_password"] if inst else None

    def realm_url(self, realm: str = REALM) -> str:
        return f"{self.url}/realms/{realm}"

    # -- processes
    def jvm_pids(self) -> list[int]:
        """JVMs running with this instance's home (also one orphaned by a killed kc.sh)."""
        mark = f"-Dkc.home.dir={self.home / 'bin'}/.."
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and mark in procs.cmdline(int(entry)) and pid_alive(int(entry)):
                pids.append(int(entry))
        return pids

    def pid(self) -> int | None:
        """pid of this state dir's running kc.sh (or of the JVM it exec'ed), else None."""
        # guard against a recycled pid: must run our home's kc.sh or the JVM with our home
        home_bin = str(self.home / "bin")
        return procs.live_pid(self.pid_file, lambda cmd: home_bin in " ".join(cmd))

    # -- HTTP
    def healthy(self) -> bool:
        """The test realm's OpenID configuration answers 200."""
        if not self.url:
            return False
        try:
            with _http(f"{self.realm_url()}/.well-known/openid-configuration", timeout=3) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    # -- lifecycle (up, down, status: tools/launcher.py)
    def _prepare(self) -> Path:
        java = java_binary()
        if not java:
            raise KeycloakError(
                "`java` not found (PATH, $JAVA_HOME); Keycloak needs Java 17 or newer "
                "(Debian: apt-get install openjdk-17-jre-headless)"
            )
        major = java_major(java)
        if major is not None and major < 17:
            raise KeycloakError(f"{java} is Java {major}; Keycloak {VERSION} needs Java 17 or newer")
        return ensure_dist(self.log)

    def _cleanup_stale(self) -> None:
        """Forget a previous (crashed or killed) instance: a fresh start gets a new
        home (empty database), port and admin password. The old log is kept as .1."""
        leftovers = self.jvm_pids()
        for p in leftovers:
            self.log(f"stopping orphaned Keycloak JVM pid {p} of {self.state_dir}")
            self._terminate(p)
        if self.pid_file.exists() or self.env_file.exists() or self.home.exists():
            self.log(f"removing stale keycloak state in {self.state_dir}")
        procs.remove_stale((self.home,), (self.pid_file, self.env_file, self.instance_file), self.log_file)

    def _make_home(self, dist: Path, seed: Path | None) -> None:
        """The instance's Keycloak home: kc.sh and quarkus-run.jar copied (kc.sh resolves its
        home from its own path, the jar its classpath), lib/quarkus copied (augmentation
        writes there), data/ its own, everything else symlinked into the distribution."""
        home = self.home
        home.mkdir(parents=True)
        for entry in dist.iterdir():
            if entry.name not in ("bin", "lib", "data"):
                (home / entry.name).symlink_to(entry)
        for sub, copied in (("bin", {"kc.sh"}), ("lib", {"quarkus-run.jar", "quarkus"})):
            (home / sub).mkdir()
            for entry in (dist / sub).iterdir():
                if entry.name not in copied:
                    (home / sub / entry.name).symlink_to(entry)
        shutil.copy2(dist / "bin" / "kc.sh", home / "bin" / "kc.sh")
        shutil.copy2(dist / "lib" / "quarkus-run.jar", home / "lib" / "quarkus-run.jar")
        shutil.copytree(seed or dist / "lib" / "quarkus", home / "lib" / "quarkus")
        (home / "data" / "import").mkdir(parents=True)
        (home / "data" / "tmp").mkdir()
        for f in self.realm_files:
            shutil.copy2(f, home / "data" / "import" / f.name)

    def _start(self, dist: Path) -> Keycloak:
        t0 = time.monotonic()
        for f in self.realm_files:
            if not f.is_file():
                raise KeycloakError(f"realm file {f} does not exist")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        seed = _augmented_dir(self.extra_args)
        seeded = (seed / "quarkus-application.dat").is_file()
        self._make_home(dist, seed if seeded else None)
        port = free_port()
        procs.atomic_write(
            self.instance_file,
            json.dumps(
                {"port": port, "admin_username": ADMIN_USERNAME, "admin_password": secrets.token_urlsafe(24)}, indent=2
            )
            + "\n",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV_PREFIXES)}
        env["KC_BOOTSTRAP_ADMIN_USERNAME"] = self.admin_username
        env["KC_BOOTSTRAP_ADMIN_PASSWORD"] = self.admin_password
        # C1 only: a short-lived test server starts faster with less JIT work (measured here: ~25% on 2 busy
        # cores); the JVM's temporary files (vert.x cache, uploads) stay inside the instance. The caller's
        # JAVA_OPTS_APPEND comes last and wins.
        tmpdir = shlex.quote(f"-Djava.io.tmpdir={self.home / 'data' / 'tmp'}")  # kc.sh splits it with xargs
        env["JAVA_OPTS_APPEND"] = f"-XX:TieredStopAtLevel=1 {tmpdir} {env.get('JAVA_OPTS_APPEND', '')}"
        if java_binary() and "JAVA_HOME" not in env and "JAVA" not in env:
            env["JAVA"] = java_binary()
        args = [
            str(self.home / "bin" / "kc.sh"),
            "start-dev",
            "--http-host=127.0.0.1",
            f"--http-port={port}",
            "--hostname-strict=false",
            "--import-realm",
            *self.extra_args,
        ]
        proc = self._spawn(args, env)
        self._wait_ready(proc.pid, t0)
        self._write_contract()
        self.last_ready_seconds = time.monotonic() - t0
        self.last_start_augmented = AUGMENTATION_MARK in _read(self.log_file)
        note = ""
        if self.last_start_augmented:
            m = re.search(r"Quarkus augmentation completed in (\d+)ms", _read(self.log_file))
            note = f" (first start: augmentation{f' {int(m.group(1)) / 1000:.0f} s' if m else ''})"
            self._publish_augmentation(seed, replace=seeded)  # seeded yet augmented: the seed is stale
        where = f"pid {proc.pid}, {self.url}, state {self.state_dir}"
        self.log(f"keycloak ready in {self.last_ready_seconds:.0f} s{note} ({where})")
        return self

    def _publish_augmentation(self, seed: Path, replace: bool = False) -> None:
        """Share this instance's dev-profile lib/quarkus with later instances (temp + rename, under a lock)."""
        with flock(seed.parent / f".{seed.name}.lock"):
            if (seed / "quarkus-application.dat").is_file() and not replace:
                return  # published meanwhile by a concurrent first start
            tmp = seed.parent / f".{seed.name}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(self.home / "lib" / "quarkus", tmp)
            shutil.rmtree(seed, ignore_errors=True)
            os.replace(tmp, seed)
            self.log(f"cached the augmented build for later starts in {seed}")

    def _stop_after_failed_start(self, pid: int, exited: bool) -> None:
        self._stop(launcher.STOP_TIMEOUT)  # also a JVM left behind by an exited kc.sh

    def _write_contract(self) -> None:
        procs.atomic_write(
            self.env_file,
            f"KEYCLOAK_URL={self.url}\n"
            f"KEYCLOAK_ADMIN_USERNAME={self.admin_username}\n"
            f"KEYCLOAK_ADMIN_PASSWORD={self.admin_password}\n",
        )

    def _stop(self, timeout: float) -> bool:
        """kc.sh and a JVM left behind by a killed kc.sh; True if either ran."""
        running = super()._stop(timeout)
        for p in self.jvm_pids():
            self._terminate(p, timeout)
            running = True
        return running

    def _status_fields(self, pid: int | None) -> dict:
        return {
            "jvm_pids": self.jvm_pids(),  # also a JVM orphaned by a killed kc.sh (`down` stops it)
            "url": self.url if pid else None,
            "ready": bool(pid) and self.healthy(),
            "env": str(self.env_file) if pid and self.env_file.exists() else None,
        }


def _http(url: str, timeout: float = 10.0):
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"not a local Keycloak URL: {url}")
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 -- loopback http only, checked above


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    def fetch(_kc: Keycloak, _args) -> int:
        t0 = time.monotonic()
        print(ensure_dist())
        print(f"keycloak fetch: {time.monotonic() - t0:.1f}s", file=sys.stderr)
        return 0

    return launcher.cli(
        argv,
        prog="keycloak.py",
        doc=__doc__,
        state_dir_help="default: $DEVPI_KEYCLOAK_DIR or <repo>/.keycloak",
        launcher=Keycloak,
        up_hint=lambda kc: f"env: {kc.env_file}\n  set -a; . {kc.env_file}; set +a\n  {kc.realm_url()}",
        commands={
            "fetch": (
                "only download, verify and unpack the distribution (into the cache); print its path",
                lambda p: None,
                fetch,
            )
        },
        default_ready_timeout=DEFAULT_READY_TIMEOUT,
    )


if __name__ == "__main__":
    sys.exit(main())
