#!/usr/bin/python
# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: random_b64
short_description: Generate, keep or repair a base64-encoded random secret
version_added: 1.0.0
description:
  - Returns the base64 encoding of O(num_bytes) cryptographically random bytes (Python C(secrets.token_bytes)),
    unless the value in use, given as O(current), is already valid; then it is kept and not returned.
  - Meant for secrets such as the devpi-server C(--secretfile) content and the oauth2-proxy C(cookie-secret).
    oauth2-proxy decodes its cookie secret as URL-safe base64, so a standard value containing C(+) or C(/) makes it
    refuse to start; use O(alphabet=urlsafe) there, and O(repair) fixes such a value without changing its bytes.
  - The module writes nothing anywhere and never returns O(current). It returns only newly generated or re-encoded
    material, so that Ansible's C(no_log) masking (which replaces every occurrence of a C(no_log) input inside the
    result) cannot corrupt it. If the new value or its fingerprint would contain O(current) (possible only for a
    very short invalid O(current)), the module draws again, and fails when that cannot help.
  - "Use C(no_log: true) on the task: the result contains the new secret."
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
      - In check mode the module behaves exactly as in normal mode, including generating and returning a new value
        when one is needed (so a caller can run a server-side dry run with it); it stores nothing in either mode.
  diff_mode:
    support: full
    details:
      - "The diff shows C(<absent>) or C(<present>) before; after, C(<kept>), C(<re-encoded, same bytes>), or for a
        value generated now C(sha256:<16 hex digits> (generated)) (see RV(fingerprint); C(<new>) below 16 bytes).
        Never the value, and nothing derived from O(current) - not even its length: it may have been chosen by a
        person."
options:
  num_bytes:
    description:
      - Number of random bytes. The encoded value is 4 * ceil(O(num_bytes) / 3) characters long (44 for 32).
      - Also the exact number of bytes a valid O(current) must decode to.
      - From 1 to 1024.
    type: int
    default: 32
  alphabet:
    description:
      - V(standard) uses C(+) and C(/) (Python C(base64.b64encode), what C(devpi-gen-secret) writes).
      - V(urlsafe) uses C(-) and C(_) (Python C(base64.urlsafe_b64encode), what oauth2-proxy decodes).
      - Generated and repaired values always carry the standard C(=) padding.
    type: str
    choices: [standard, urlsafe]
    default: standard
  current:
    description:
      - The value currently in use, if any. An omitted or empty value counts as absent; then a value is generated
        whatever O(regenerate) says.
      - "It is valid when it is the strict base64 encoding, in O(alphabet), of exactly O(num_bytes) bytes: only the 64
        characters of the alphabet, either exactly the standard C(=) padding or no C(=) at all (an unpadded value as
        made by Python C(secrets.token_urlsafe) is accepted), no whitespace or line break (a trailing newline makes it
        invalid), and the canonical encoding (unused trailing bits are zero)."
      - A standard value containing neither C(+) nor C(/) is valid in both alphabets.
    type: str
  regenerate:
    description:
      - When to replace O(current). The vocabulary follows community.crypto.
      - V(never) keeps any present O(current), even an invalid one (then RV(valid) is V(false) and a warning is
        issued); O(repair) does not apply.
      - V(fail) keeps a valid O(current), repairs a repairable one (see O(repair)) and fails otherwise.
      - V(full_idempotence) keeps a valid O(current), repairs a repairable one, and generates a new value otherwise.
      - V(always) generates a new value on every run (rotation); O(repair) does not apply.
    type: str
    choices: [never, fail, full_idempotence, always]
    default: full_idempotence
  repair:
    description:
      - When O(current) is not valid in O(alphabet) but is the strict encoding of exactly O(num_bytes) bytes in the
        other alphabet, return the same bytes encoded in O(alphabet) (with padding) instead of generating new ones.
        For example C(+) becomes C(-) and C(/) becomes C(_). This keeps an oauth2-proxy cookie secret made with
        standard base64 working without logging anyone out.
      - A repair is a change (RV(repaired) and RV(changed) are V(true)); RV(generated) stays V(false).
      - Applies only when O(regenerate) is V(fail) or V(full_idempotence).
    type: bool
    default: true
requirements:
  - Python 3.8 or later on the controller.
notes:
  - Fingerprints (RV(fingerprint) and the diff) are shown only of a value generated by this run, of at least 16 bytes.
    A SHA-256 prefix of a short or human-chosen value (for example an invalid O(current) kept with
    O(regenerate=never)) would let anyone find it by trying candidates.
seealso:
  - module: theedgeworks.devpi.htpasswd_bcrypt
  - module: community.crypto.openssl_privatekey_pipe
"""

EXAMPLES = r"""
---
- name: Read the Secret that holds the cookie secret
  kubernetes.core.k8s_info:
    kind: Secret
    namespace: devpi
    name: devpi-oauth2-proxy-secret
  register: oauth2_secret
  no_log: true

- name: Take the cookie secret in use, if any
  ansible.builtin.set_fact:
    current_cookie_secret: >-
      {{ (oauth2_secret.resources[0].data['cookie-secret'] | default('') | b64decode)
         if oauth2_secret.resources | length > 0 else '' }}
  no_log: true

- name: Keep, repair or generate the oauth2-proxy cookie secret (32 bytes, URL-safe)
  theedgeworks.devpi.random_b64:
    num_bytes: 32
    alphabet: urlsafe
    current: "{{ current_cookie_secret }}"
  register: cookie_secret
  no_log: true # the result holds the new secret

# value is returned only when it was generated or repaired; otherwise the current value stays.
- name: Pick the value to store
  ansible.builtin.set_fact:
    cookie_secret_value: "{{ cookie_secret.value if 'value' in cookie_secret else current_cookie_secret }}"
  no_log: true

- name: Show what happened without showing the secret
  ansible.builtin.debug:
    msg: >-
      generated={{ cookie_secret.generated }} repaired={{ cookie_secret.repaired }}
      {{ cookie_secret.fingerprint | default('') }}

- name: Rotate the devpi-server secret (standard alphabet, like devpi-gen-secret)
  theedgeworks.devpi.random_b64:
    regenerate: always
  register: devpi_secret
  no_log: true
"""

RETURN = r"""
changed:
  description: Whether a value was generated or repaired, that is whether RV(value) is returned.
  returned: always
  type: bool
valid:
  description: Whether O(current) was present and valid in O(alphabet) for O(num_bytes).
  returned: always
  type: bool
  sample: true
generated:
  description: Whether new random bytes were drawn.
  returned: always
  type: bool
  sample: false
repaired:
  description: Whether O(current) was re-encoded from the other alphabet (same bytes).
  returned: always
  type: bool
  sample: false
value:
  description:
    - The new value (base64 with standard C(=) padding), generated or repaired.
    - Omitted when O(current) is kept; the caller already has it.
    - Also returned in check mode.
  returned: when RV(generated) or RV(repaired)
  type: str
  sample: q7Zx0bA1-Yf3xkzCkQn1y5WZ4v0t3J7x6uD2bq9Yw8M=
fingerprint:
  description:
    - C(sha256:) followed by the first 16 hex digits of the SHA-256 of the newly generated value's text, as
      C(printf %s VALUE | sha256sum) would print.
    - Safe to log - 16 or more random bytes cannot be recovered from it. Lets you compare values without showing them.
  returned: when a value was generated (RV(generated)) and O(num_bytes) is at least 16
  type: str
  sample: sha256:3f1c9b0a5e7d2c84
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.theedgeworks.devpi.plugins.module_utils.random_b64 import ARGUMENT_SPEC, run  # noqa: E402


def main():
    run(AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
