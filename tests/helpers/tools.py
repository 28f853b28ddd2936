"""The developer tools in tools/ (scripts, not a package), loaded once as modules for the tests.

from helpers.tools import pki           # the one PKI module (tools/pki.py)
from helpers.tools import cluster       # the control plane launcher (tools/cluster.py)
"""

from __future__ import annotations

from helpers import load_tool

#: tools/cluster.py: ControlPlane, ControlPlaneError, pid_alive, ...
cluster = load_tool("cluster.py", "devpi_cluster")
#: tools/install_consumers.py: where the consumer binaries are (raises ConsumerMissing), their versions
install_consumers = load_tool("install_consumers.py", "devpi_install_consumers")
#: tools/pki.py: CAs, leaf certificates (good and bad), keys, PEM files
pki = load_tool("pki.py", "devpi_pki")
#: tools/ports.py: free loopback ports, whether one answers
ports = load_tool("ports.py", "devpi_ports")
#: tools/procs.py: start a process in its own session with a log, its log's tail, its stop
procs = load_tool("procs.py", "devpi_procs")
#: tools/node.py: the local node's host-wide footprint (host_snapshot), its processes
node = load_tool("node.py", "devpi_node")
#: tools/images.py: the node's images, made offline
images = load_tool("images.py", "devpi_images")
#: tools/sops.py: the cached sops binary (raises ToolMissing: `make backup-tools`), Debian's age and age-keygen
sops = load_tool("sops.py", "devpi_sops")
