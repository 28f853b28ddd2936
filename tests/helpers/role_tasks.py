"""Names of the role's tasks that the tests hook (tests/callback_plugins/hardening_hooks.py, HARDENING_HOOK_TASK) or
expect a run to stop in.

Each is the `name:` of a task in roles/devpi_secrets/tasks/*.yml (tests/unit/roles/test_role_tasks.py checks it), so
that a renamed task fails there and not as a hook that silently never runs.
"""

from __future__ import annotations

#: write.yml: the task that sends the creates and updates of the namespace and the Secrets
WRITE_THE_SECRETS = "Create or update the namespace and the Secrets that change"

#: main.yml: the inclusion of the write phase (Keycloak first, then the cluster), after every read
WRITE_PHASE = "Write what changes (Keycloak first, then the cluster)"
#: plan.yml: the check after the plan step - which read Keycloak, the cluster and the copy and planned - where a bad
#: input or a value that could not be made stops the run; a hook here runs after every read, before any write
CHECK_THE_PLAN = "Check that every Secret can be made and may be written"
#: report.yml: where a refused write or restart stops the run, after the report
WRITE_REFUSED = "Fail when a write was refused (the others were written)"

#: every name above
HOOKED = (WRITE_THE_SECRETS, WRITE_PHASE, CHECK_THE_PLAN, WRITE_REFUSED)
