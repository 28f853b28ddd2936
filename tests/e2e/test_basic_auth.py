"""devpi-basic-auth → nginx (as ingress-nginx uses it) and pip through nginx to devpi-server."""

import pytest

from tests.e2e.drivers import devpi, nginx

pytestmark = pytest.mark.e2e


def test_nginx_basic_auth(secret_set, nginx_bin, tmp_path, report):
    result = nginx.check_basic_auth_nginx(secret_set.auth, secret_set.basic_password, tmp_path)
    report(f"devpi-basic-auth → nginx [{secret_set.source}]", result)


def test_pip_through_nginx_to_devpi(secret_set, nginx_bin, devpi_bins, tmp_path, report):
    with devpi.devpi_stack(secret_set.secret, tmp_path / "devpi") as stack:
        result = nginx.check_pip_through_nginx(secret_set.auth, secret_set.basic_password, stack, tmp_path / "proxy")
    report(f"devpi-basic-auth → nginx → devpi-server, pip [{secret_set.source}]", result)
