# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Detect results that Ansible would mangle while hiding ``no_log`` values (no Ansible imports).

``AnsibleModule.exit_json`` runs ``remove_values`` over the result: a string equal to a ``no_log`` value becomes
``VALUE_SPECIFIED_IN_NO_LOG_PARAMETER``, every occurrence of a ``no_log`` value inside a string becomes ``********``,
and a number whose text contains one is replaced as a whole. Dictionary keys are left alone. A module that returns
newly generated material must therefore make sure no ``no_log`` input occurs inside it, or the caller would store a
corrupted value without noticing.
"""

from __future__ import annotations


def _strings(obj):
    """Yield the text of every scalar value Ansible's masking looks at (not the keys of mappings)."""
    if isinstance(obj, bool) or obj is None:
        return
    if isinstance(obj, (str, int, float)):
        yield str(obj)
    elif isinstance(obj, bytes):
        yield obj.decode("utf-8", "surrogateescape")
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _strings(value)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for value in obj:
            yield from _strings(value)


def masked_values(result, no_log_values):
    """Return the set of ``no_log_values`` that occur inside ``result`` (empty when the result is safe to return)."""
    secrets = [s for s in (str(v) for v in no_log_values if v is not None) if s]
    if not secrets:
        return set()
    found = set()
    for text in _strings(result):
        for secret in secrets:
            if secret in text:
                found.add(secret)
    return found
