"""The encrypted copy of the generated values (devpi_secrets_backup_*): an age identity, the environment that finds
sops, and the copy decrypted with the sops CLI alone.

key = make_age_key(tmp_path)                    # age-keygen: key.path (identity, 0600), key.recipient (age1...)
env = sops_env()                                # ansible_env() with the cached sops first on PATH
docs = sops_decrypt(copy_file, key.path)        # `sops decrypt` with SOPS_AGE_KEY_FILE only -> list of manifests
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from helpers.site import ansible_env
from helpers.tools import sops as sops_tool


@dataclass
class AgeKey:
    path: Path
    recipient: str


def make_age_key(directory: Path, name: str = "age.key") -> AgeKey:
    keygen = sops_tool.age_binaries()["age-keygen"]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    proc = subprocess.run([keygen, "-o", str(path)], capture_output=True, text=True, check=True)
    recipient = next(
        line.split(":", 1)[1].strip() for line in (proc.stderr + path.read_text()).splitlines() if "public key" in line
    )
    path.chmod(0o600)
    return AgeKey(path, recipient)


def sops_dir() -> str:
    return str(sops_tool.sops_binary().parent)


def sops_env(**extra: str) -> dict:
    """ansible_env() with the cached sops binary first on PATH (the role runs `sops` from PATH)."""
    env = ansible_env(**extra)
    env["PATH"] = sops_dir() + os.pathsep + env["PATH"]
    return env


def backup_vars(copy_file: Path, key: AgeKey, keyfile: Path | None = None) -> dict:
    return {
        "devpi_secrets_backup_file": str(copy_file),
        "devpi_secrets_backup_age_recipients": [key.recipient],
        "devpi_secrets_backup_age_keyfile": str(keyfile or key.path),
    }


def sops_decrypt(copy_file: Path, keyfile: Path) -> list[dict]:
    """The copy decrypted by the sops CLI with the age identity alone (no other environment), as a user checks it."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(copy_file.parent), "SOPS_AGE_KEY_FILE": str(keyfile)}
    proc = subprocess.run(
        [str(sops_tool.sops_binary()), "decrypt", str(copy_file)], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def copy_values(docs: list[dict]) -> dict:
    """(secret, key) -> text of a decrypted copy."""
    return {
        (doc["metadata"]["name"], key): value for doc in docs for key, value in (doc.get("stringData") or {}).items()
    }
