#!/usr/bin/python
# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: htpasswd_bcrypt
short_description: Plan the lines of a bcrypt htpasswd file without returning existing hashes
version_added: 1.0.0
description:
  - Given the wanted O(users) and the htpasswd content in use (O(current)), decides for every user whether its line
    is kept, created or rehashed, and which lines of O(current) are removed. New hashes are bcrypt with the C($2y$)
    ident, the format of Apache C(htpasswd -B), nginx C(auth_basic_user_file) and ingress-nginx C(auth-file).
  - The module writes nothing anywhere. It returns only newly generated lines (RV(lines)) and the output order
    (RV(order)); lines that are kept stay in O(current), which the caller already has. Ansible's C(no_log) masking
    replaces every occurrence of a C(no_log) input inside the result, so echoing kept lines (part of O(current)) could
    hand back masked text. Assemble the file as shown in the examples.
  - O(users) is authoritative. Lines of users not listed are removed; blank lines, comment lines (starting with C(#))
    and lines without C(:) are dropped (with a warning giving their line numbers, never their content). The output
    has one line per user, in the order of O(users), each ending with a newline.
  - If a user name, action or new line of the result would contain a password or O(current) (only possible for very
    short ones, for example a one-character password found inside a hash, or the password C(alice) of the user
    C(alice)), the module hashes again with a new salt where that helps and otherwise fails, naming the user by
    index. The diff is not checked; at worst it shows asterisks.
  - "Use C(no_log: true) on the task."
author:
  - The Edgeworks platform team (!UNKNOWN)
extends_documentation_fragment:
  - theedgeworks.devpi._attributes  # first: its support values win over the generic ones
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module behaves exactly as in normal mode, including hashing and returning new lines (so a
        caller can run a server-side dry run with them); it stores nothing in either mode.
  diff_mode:
    support: full
    details:
      - The diff maps every user to C(bcrypt, cost N), C(not bcrypt) or C(new bcrypt hash, cost N) - never a hash, a
        password or anything derived from them (a hash comes from a password a person may have chosen).
options:
  users:
    description:
      - The users the file must contain, in output order. At least one.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - User name. Not empty, at most 255 bytes of UTF-8, unique, without C(:) and without control characters
            (line breaks, NUL, tab); must not start with C(#) (nginx and Apache read such a line as a comment).
        type: str
        required: true
      password:
        description:
          - Plain-text password. Not empty and at most 72 bytes of UTF-8, because bcrypt silently ignores everything
            after the 72nd byte; longer passwords are refused rather than truncated.
          - Must not contain NUL, CR or LF. Apache C(htpasswd) would hash them, but a line break almost always comes
            from reading a file with its final newline, and no browser can send it.
          - Prefer a long random password (for example 32 characters) at the default O(cost).
        type: str
        required: true
  current:
    description:
      - Content of the htpasswd file in use. Omitted or empty means there is none.
      - Lines are split on C(\n) only and divided at their first C(:). A hash that is not bcrypt (for example C($apr1$),
        C({SHA}) or crypt) or that has trailing characters such as a C(\r) is replaced. A user with several lines gets
        one new line.
      - A bcrypt hash with a cost outside 4 to 17 is replaced without being verified (at cost 31 bcrypt runs for days).
    type: str
  cost:
    description:
      - bcrypt cost (log2 of the rounds), from 4 to 17 like Apache C(htpasswd -B -C). The default 5 is Apache's.
      - A warning is issued above 7. nginx verifies the bcrypt hash again on every request, without a cache; measured
        with nginx 1.22 and one worker, authenticated requests per second were 332 at cost 5, 11.3 at cost 10 and 2.8 at
        cost 12. A long random password protects better than a high cost.
    type: int
    default: 5
  regenerate:
    description:
      - When to hash a password again. A user missing from O(current), or whose line is not bcrypt, always gets a new
        line.
      - V(partial_idempotence) keeps a line whose bcrypt hash verifies the password, whatever its cost and ident
        (C($2y$), C($2b$) or C($2a$)).
      - V(full_idempotence) keeps it only if it also has cost O(cost) and the C($2y$) ident.
      - V(always) hashes every password again (a new salt; use it to rotate).
    type: str
    choices: [partial_idempotence, full_idempotence, always]
    default: full_idempotence
requirements:
  - bcrypt (the Python library, tested with 5.0.0) on the controller. passlib is not used.
seealso:
  - module: theedgeworks.devpi.random_b64
  - name: Apache htpasswd
    description: The reference tool; C(htpasswd -vb FILE USER PASSWORD) checks a line written from this module's output.
    link: https://httpd.apache.org/docs/current/programs/htpasswd.html
"""

EXAMPLES = r"""
---
- name: Read the basic-auth Secret
  kubernetes.core.k8s_info:
    kind: Secret
    namespace: devpi
    name: devpi-basic-auth
  register: basic_auth_secret
  no_log: true

- name: Take the htpasswd content in use, if any
  ansible.builtin.set_fact:
    current_auth: >-
      {{ (basic_auth_secret.resources[0].data.auth | default('') | b64decode)
         if basic_auth_secret.resources | length > 0 else '' }}
  no_log: true

- name: Plan the htpasswd lines
  theedgeworks.devpi.htpasswd_bcrypt:
    users:
      - name: pypi-user
        password: "{{ basic_auth_password }}"
    current: "{{ current_auth }}"
    cost: 5
  register: htpasswd
  no_log: true # the result holds new hashes

# The contract: output lines are htpasswd.order; a name found in htpasswd.lines takes that (new) line, any other
# name keeps its line from current_auth (the one line of current_auth that starts with "name:").
# Every line ends with a newline.
# Keep the double quotes: YAML turns \n into a newline there, while Jinja leaves a \n written in a ">" block alone.
- name: Assemble the file content
  ansible.builtin.set_fact:
    htpasswd_content: "{%- set old = current_auth.split('\n') | select('search', ':') | list -%}\
      {%- set by_name = dict(old | map('split', ':', 1) | map('first') | zip(old)) | combine(htpasswd.lines) -%}\
      {{ htpasswd.order | map('extract', by_name) | join('\n') ~ '\n' }}"
  no_log: true

- name: Report what changed, without secrets
  ansible.builtin.debug:
    msg: "{{ htpasswd.users | map(attribute='action') | list }}"
"""

RETURN = r"""
changed:
  description:
    - Whether the assembled content differs from O(current) - a user is created, rehashed or removed, or only the
      layout changes (see RV(reformatted)).
  returned: always
  type: bool
users:
  description:
    - One entry per user of O(users), in that order, followed by one entry per user of O(current) that is removed.
    - "C(action) is one of: V(created) (not in O(current)), V(kept) (its line in O(current) stays), V(rehashed) (a new
      line replaces its line in O(current)), V(removed) (in O(current) but not in O(users))."
  returned: always
  type: list
  elements: dict
  sample:
    - name: pypi-user
      action: kept
    - name: ci
      action: created
    - name: old-user
      action: removed
order:
  description:
    - The user names of the output file, in order (the order of O(users)).
    - Build the file from it - the line of a name in RV(lines) if present, else the line of O(current) that starts with
      the name and C(:) - each line followed by a newline. See the examples.
  returned: always
  type: list
  elements: str
  sample: [pypi-user, ci]
lines:
  description:
    - The new C(name:$2y$...) line of every created or rehashed user, by name. Kept lines are not returned.
    - Also returned in check mode.
  returned: always
  type: dict
  sample:
    ci: "ci:$2y$05$N3Qd6m2rW8y0V1nq9vZ9YOe3K7m2i4bU7oQ1Wc8Pj5sT6aRyZx1Ue"
reformatted:
  description:
    - Whether the content changes although no user is created, rehashed or removed, for example because of blank or
      comment lines, a different user order, or a missing final newline in O(current).
  returned: always
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd_bcrypt import ARGUMENT_SPEC, run  # noqa: E402


def main():
    run(AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
