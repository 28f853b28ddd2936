"""Names of the role's tasks that the tests hook (tests/callback_plugins/hardening_hooks.py, HARDENING_HOOK_TASK).

Each is the `name:` of a task in roles/devpi_secrets/tasks/*.yml (tests/unit/roles/test_role_tasks.py checks it), so
that a renamed task fails there and not as a hook that silently never runs.
"""

from __future__ import annotations

#: decide.yml: after the role read the cluster and the TLS files, before any write
PLAN_THE_WRITES = "Plan the writes"
#: write.yml: the task that sends the creates and updates of the namespace and the Secrets
WRITE_THE_SECRETS = "Create or update the namespace and the Secrets that change"

#: converge.yml: the inclusion of the write phase (Keycloak first, then the cluster), after every read
WRITE_PHASE = "Write what changes (Keycloak first, then the cluster)"
#: decide.yml: the check after the plan step, where a value that could not be made stops the run
CHECK_THE_PLAN = "Check that every Secret can be made and may be written"

#: every name above
HOOKED = (PLAN_THE_WRITES, WRITE_THE_SECRETS, WRITE_PHASE, CHECK_THE_PLAN)
