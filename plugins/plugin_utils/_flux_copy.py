# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""The Flux-ready form of the encrypted copy (``devpi_secrets_backup_flux_dir``): one sops file per Secret.

The copy (``_backup.py``) is encrypted by one sops run: one MAC over every document, so a document of it does not
verify alone, and Flux's kustomize-controller - which builds a kustomization, then decrypts each resource on its own -
cannot use it. This form holds the same manifests, each encrypted by its own sops run to the same age recipients with
the same ``encrypted_regex``, one file ``<secret>.sops.yaml`` each, and a ``kustomization.yaml`` listing them: the
folder a user commits to the Flux repository (its Flux Kustomization needs ``decryption: provider: sops``).

It is written with the copy (when the copy is written or updated) and when the folder lacks a file (it was just given
or a file was lost: written from the copy as it is); a re-run writes nothing. The copy's guarantees hold:
values reach sops on standard input, each file is a temporary file of mode 0600 in the folder renamed into place.
``plan`` decides which files to write and remove (value-free: names only); ``write`` does it.
"""

from __future__ import annotations

import os

import yaml

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._backup import BackupError, encrypt, write_file

FLUX_DIR_VAR = "devpi_secrets_backup_flux_dir"
KUSTOMIZATION = "kustomization.yaml"
SUFFIX = ".sops.yaml"


def file_name(secret):
    return "%s%s" % (secret, SUFFIX)


def kustomization_text(docs):
    """The folder's ``kustomization.yaml`` (no value in it): the Secret files, in the copy's order."""
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [file_name(doc["metadata"]["name"]) for doc in docs],
    }
    return (
        "# Written by the devpi_secrets role of theedgeworks.devpi (devpi_secrets_backup_flux_dir): the encrypted\n"
        "# copy of the generated values, one sops file per Secret, for Flux (decryption: provider: sops). Each Secret\n"
        "# is annotated kustomize.toolkit.fluxcd.io/ssa: IfNotPresent: Flux creates it when missing, never overwrites\n"
        "# it. Do not edit: the role rewrites this folder whenever the copy changes.\n"
        + yaml.safe_dump(body, sort_keys=False)
    )


def listed(folder):
    """The Secret files the folder's ``kustomization.yaml`` lists now (what this role wrote before); ``[]`` when
    there is none or it is not one of ours."""
    try:
        with open(os.path.join(folder, KUSTOMIZATION), encoding="utf-8") as handle:
            body = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return []
    resources = body.get("resources") if isinstance(body, dict) else None
    if not isinstance(resources, list):
        return []
    return [r for r in resources if isinstance(r, str) and r.endswith(SUFFIX) and os.path.basename(r) == r]


def incomplete(folder):
    """Whether the folder lacks its ``kustomization.yaml`` or a file it lists - read before anything is written, so
    that a run writes the form from the copy even when the copy does not change (the folder was just given, or a file
    of it was lost). ``False`` without a folder name."""
    if not folder:
        return False
    if not os.path.isfile(os.path.join(folder, KUSTOMIZATION)):
        return True
    return any(not os.path.isfile(os.path.join(folder, name)) for name in listed(folder))


def plan(docs, folder, action, changes):
    """Which files of ``folder`` to write and remove - names only, in a stable order.

    ``docs``: the copy's manifests; ``action``: the copy's; ``changes``: the copy's value changes
    (``{secret, key, why}``). A Secret's file is written when the copy is ``written`` (new), when one of its values
    changed (an ``updated`` copy without changes only dropped keys: every file is written), or when the file is
    missing - also when the copy is ``unchanged``; the kustomization when its text differs; a file the old
    kustomization listed for a Secret no longer in the copy is removed. Unchanged copy, complete folder: nothing."""
    changed = {change["secret"] for change in changes or ()}
    every = action == "written" or (action == "updated" and not changed)
    wanted = [file_name(doc["metadata"]["name"]) for doc in docs]
    write = [
        file_name(doc["metadata"]["name"])
        for doc in docs
        if every
        or doc["metadata"]["name"] in changed
        or not os.path.isfile(os.path.join(folder, file_name(doc["metadata"]["name"])))
    ]
    try:
        with open(os.path.join(folder, KUSTOMIZATION), encoding="utf-8") as handle:
            kustomization = handle.read() != kustomization_text(docs)
    except (OSError, UnicodeDecodeError):
        kustomization = True
    remove = [name for name in listed(folder) if name not in wanted and os.path.isfile(os.path.join(folder, name))]
    return {"write": write, "kustomization": kustomization, "remove": remove}


def written_names(decided):
    """The report's ``written``: the Secret files, then the kustomization."""
    return list(decided["write"]) + ([KUSTOMIZATION] if decided["kustomization"] else [])


def write(docs, decided, recipients, folder, sops_binary=None, known=()):
    """Carry out ``decided`` (``plan``'s result): each Secret file by its own sops run, then the kustomization, then
    the removals. The folder is made (0700) when missing."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as error:
        raise BackupError("Cannot make the folder %s (%s): %s." % (folder, FLUX_DIR_VAR, error.strerror)) from None
    by_file = {file_name(doc["metadata"]["name"]): doc for doc in docs}
    for name in decided["write"]:
        path = os.path.join(folder, name)
        # Keys sorted: kustomize hands each resource to the decryption as JSON, its keys sorted, and sops' MAC follows
        # the order of the values (getsops/sops#833), so a file in any other order fails in kustomize-controller.
        content = encrypt([by_file[name]], recipients, path, sops_binary, known, FLUX_DIR_VAR, sort_keys=True)
        write_file(path, content, FLUX_DIR_VAR)
    if decided["kustomization"]:
        write_file(os.path.join(folder, KUSTOMIZATION), kustomization_text(docs).encode("utf-8"), FLUX_DIR_VAR)
    for name in decided["remove"]:
        try:
            os.unlink(os.path.join(folder, name))
        except FileNotFoundError:
            continue
        except OSError as error:
            raise BackupError("Cannot remove %s (%s): %s." % (name, FLUX_DIR_VAR, error.strerror)) from None
