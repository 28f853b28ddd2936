"""Names of the role's tasks that the tests hook (tests/callback_plugins/hardening_hooks.py, HARDENING_HOOK_TASK).

Each is the `name:` of a task in roles/devpi_secrets/tasks/*.yml (tests/unit/roles/test_role_tasks.py checks it), so
that a renamed task fails there and not as a hook that silently never runs.
"""

from __future__ import annotations

#: decide.yml: after the role read the cluster and the TLS files, before any write
PLAN_THE_WRITES = "Plan the writes"
#: write.yml: the task that sends the creates and updates of the namespace and the Secrets
WRITE_THE_SECRETS = "Create or update the namespace and the Secrets that change"

#: every name above
HOOKED = (PLAN_THE_WRITES, WRITE_THE_SECRETS)
