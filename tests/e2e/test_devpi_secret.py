"""devpi-secret → devpi-server: the bytes of the Secret are a valid --secretfile, login
tokens survive a restart with the same Secret and die with a rotated one."""

import pytest

from tests.e2e import secret_sources as src
from tests.e2e.drivers import devpi

pytestmark = pytest.mark.e2e


def test_devpi_accepts_secret_and_tokens_follow_it(secret_set, runner_for, devpi_bins, tmp_path, report):
    old = secret_set.secret
    rotated, after = src.rotate_devpi_secret(secret_set, runner_for(secret_set))
    assert rotated != old
    if after is not None:
        # A forced rotation of devpi-secret leaves the other Secrets alone.
        for name in ("devpi-tls", "devpi-oauth2-proxy-secret", "devpi-basic-auth"):
            assert after.raw[name] == secret_set.raw[name], f"rotating devpi-secret changed {name}"
        src.check_contract(after)
    result = devpi.check_devpi_secret(old, rotated, tmp_path)
    report(f"devpi-secret [{secret_set.source}]", result)


def test_devpi_secret_mount_layouts(secret_set, devpi_bins, tmp_path, report):
    """Which Deployment layouts devpi-server accepts for the Secret's file (see MOUNT_LAYOUTS)."""
    result = devpi.check_devpi_mount_layouts(secret_set.secret, tmp_path)
    report(
        f"devpi --secretfile layouts [{secret_set.source}]",
        {k: "accepted" if v else "rejected" for k, v in result.items()},
    )
    assert result["subpath-0400"] and result["init-copy-0600"]
    assert not result["secret-volume-dir"]


def test_devpi_trailing_newline_is_part_of_the_secret(devpi_bins, tmp_path, report):
    """`echo $SECRET > file` adds a newline, and devpi-server takes it as part of the secret: a login token made with
    the value is refused once the server restarts with the value plus a newline. So the value must reach the file
    byte for byte, and the Secret must hold no trailing newline (check_contract)."""
    s = src.local_secret()
    assert devpi.devpi_validate_secretfile(devpi.write_secretfile(tmp_path / "nl", s + b"\n")).returncode == 0
    result = devpi.check_devpi_secret(s, s + b"\n", tmp_path / "server")
    assert result["token_rejected_after_rotation"] != "ok"
    report("devpi-secret with a trailing newline", result)
