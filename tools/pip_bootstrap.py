"""Offline stand-in for the pip bootstrap script that ansible-test downloads into ~/.ansible/test/cache.

ansible-test fetches `get-pip-<version>.py` from a host that CI cannot reach, to put pip into the empty virtual
environments of the sanity tests. This script does the same job from what is reachable: pip from the standard
library's ensurepip, then the requested pip version from PyPI. tools/sanity.sh installs it under the cache name.
ansible-test runs it as `python quiet_pip.py [pip options] pip==X --no-setuptools --no-wheel`.
"""

import subprocess
import sys


def main() -> None:
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    main()
