# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""The encrypted copy of the generated values (``devpi_secrets_backup_file``): SOPS with age recipients.

The copy is a multi-document YAML file of Secret manifests - one per Secret that holds a generated value, with only
those keys in ``stringData`` - annotated ``kustomize.toolkit.fluxcd.io/ssa: IfNotPresent`` (Flux creates such an
object and never overwrites it), encrypted by one ``sops`` run (``encrypted_regex`` ``^(data|stringData)$``) to the
age recipients, so that ``sops decrypt FILE`` with one of their identities decrypts it whole. One run means one MAC
over every document: a document cut out of the file alone does not verify (measured with sops 3.13.3: MAC
mismatch), so Flux, which decrypts each manifest on its own, needs one file per manifest: ``_flux_copy.py`` writes
them beside the copy when ``devpi_secrets_backup_flux_dir`` is set.

``sops`` runs through community.sops' runner (``Sops.encrypt``/``Sops.decrypt``), always reading its input from
standard input (``/dev/stdin``): no plaintext byte reaches the disk. The encrypted result is written to a temporary
file of mode 0600 in the copy's own folder and renamed over the copy (``os.replace``), so a reader sees the old copy
or the new one, never a part. Errors carry no value: ``BackupError`` messages are made here, from the exit code and
sops' own first error line, scrubbed and cut.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import yaml

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _ages
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._scrub import scrub

try:
    from ansible_collections.community.sops.plugins.module_utils.sops import SOPS_ERROR_CODES, Sops, SopsError
except ImportError:  # community.sops is missing: check_problems says so, naming the collection
    Sops = SopsError = None
    SOPS_ERROR_CODES = {}

ANNOTATIONS = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
ENCRYPTED_REGEX = "^(data|stringData)$"
FILE_VAR = "devpi_secrets_backup_file"
KEYFILE_VAR = "devpi_secrets_backup_age_keyfile"
RECIPIENTS_VAR = "devpi_secrets_backup_age_recipients"


class BackupError(Exception):
    """A value-free sentence: what failed with the copy, naming the variable."""


def manifests(values, types, namespace, labels, stamps=None):
    """The copy's documents: per Secret (in ``types``' order) that has values, a Secret manifest with them as
    ``stringData``, annotated so that Flux creates it when missing and never overwrites it, and with the age stamps of
    its values (``stamps``: ``{secret: {key: stamp}}``, the annotation ``_ages.ANNOTATION`` the Secret carries; not
    encrypted - a time and a version, no value), so that a restored value keeps its age."""
    docs = []
    # Plain str throughout: what Ansible hands over may be its own str subclasses, which yaml.safe_dump refuses.
    for name, secret_type in types.items():
        data = values.get(name) or {}
        if not data:
            continue
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": str(secret_type),
                "metadata": {
                    "name": str(name),
                    "namespace": str(namespace),
                    "labels": {str(k): str(v) for k, v in (labels or {}).items()},
                    "annotations": _annotations((stamps or {}).get(name), data),
                },
                "stringData": {str(key): str(data[key]) for key in sorted(data)},
            }
        )
    return docs


def _annotations(stamps, data):
    out = dict(ANNOTATIONS)
    kept = {str(key): dict(stamp) for key, stamp in (stamps or {}).items() if key in data and stamp}
    if kept:
        out[_ages.ANNOTATION] = _ages.dump(kept)
    return out


def stamps_of(text):
    """``{secret: {key: stamp}}``: the age stamps the copy's manifests carry (a copy written before stamps were kept
    in it has none: a value restored from it is then first seen at the restore)."""
    out = {}
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
            found = _ages.read_stamps(doc["metadata"])
            if found:
                out.setdefault(str(doc["metadata"].get("name")), {}).update(found)
    return out


def values_of(text, path=""):
    """``{secret: {key: text}}`` of a decrypted copy; ``BackupError`` when it is not a copy this role wrote."""
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError:
        raise BackupError(
            "%s (%s) decrypts, but not to YAML: it is not a copy written by this role." % (FILE_VAR, path)
        ) from None
    out = {}
    for number, doc in enumerate(docs, 1):
        name = (doc.get("metadata") or {}).get("name") if isinstance(doc, dict) else None
        data = doc.get("stringData") if isinstance(doc, dict) else None
        if (
            not isinstance(name, str)
            or doc.get("kind") != "Secret"
            or not isinstance(data, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
        ):
            raise BackupError(
                "%s (%s): document %d is not a Secret manifest with string values in stringData: it is not a copy "
                "written by this role." % (FILE_VAR, path, number)
            )
        out.setdefault(name, {}).update(data)
    return out


def _options(**options):
    def get_option_value(name):
        return options.get(name)

    return get_option_value


def _sops_failure(error, known):
    """``sops exited N (Name): <its first line>``, scrubbed of ``known`` and cut."""
    text = str(error)
    code = next((c for c, name in SOPS_ERROR_CODES.items() if ": %s exited with code %d" % (name, c) in text), None)
    detail = text.split(": ", 3)[-1].strip().splitlines()
    first = scrub(detail[0] if detail else "", known)[:200]
    if code is None:
        return "sops failed: %s" % first
    return "sops exited %d (%s): %s" % (code, SOPS_ERROR_CODES[code], first)


def read(path, keyfile, sops_binary=None):
    """``{"exists": bool, "values": {...}}`` of the copy at ``path``, decrypted with the age identity ``keyfile``.

    A missing file is an empty copy. The file is read here and handed to sops on standard input."""
    if not os.path.exists(path):
        return {"exists": False, "values": {}}
    with open(path, "rb") as handle:
        content = handle.read()
    try:
        text = Sops.decrypt(
            path,
            content=content,
            input_type="yaml",
            output_type="yaml",
            rstrip=False,
            get_option_value=_options(age_keyfile=keyfile, sops_binary=sops_binary),
        )
    except SopsError as error:
        raise BackupError(
            "Cannot decrypt the encrypted copy %s (%s) with the age identity %s (%s): %s. Give the identity of one "
            "of its recipients, or move a damaged copy away (the run then generates what the cluster lacks)."
            % (path, FILE_VAR, keyfile, KEYFILE_VAR, _sops_failure(error, []))
        ) from None
    return {"exists": True, "values": values_of(text, path), "stamps": stamps_of(text)}


def encrypt(docs, recipients, path, sops_binary=None, known=(), var=FILE_VAR, sort_keys=False):
    """The encrypted copy (bytes): the documents as one multi-document YAML text, encrypted by one sops run (one data
    key, one MAC over every document), so that ``sops decrypt FILE`` decrypts the whole file. ``sort_keys``: every
    mapping's keys in sorted order (the MAC follows the order of the values)."""
    try:
        return Sops.encrypt(
            yaml.safe_dump_all(docs, sort_keys=sort_keys, explicit_start=True).encode("utf-8"),
            cwd=os.path.dirname(path) or ".",
            input_type="yaml",
            output_type="yaml",
            get_option_value=_options(age=list(recipients), encrypted_regex=ENCRYPTED_REGEX, sops_binary=sops_binary),
        )
    except SopsError as error:
        raise BackupError(
            "Cannot encrypt the copy %s (%s) to %s: %s."
            % (path, var, RECIPIENTS_VAR, _sops_failure(error, list(known)))
        ) from None


def write_file(path, content, var=FILE_VAR):
    """``content`` into ``path`` through a temporary file of mode 0600 in the same folder, renamed into place."""
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise BackupError("Cannot write the copy %s (%s): %s." % (path, var, error.strerror)) from None


def write(docs, recipients, path, sops_binary=None, known=()):
    write_file(path, encrypt(docs, recipients, path, sops_binary, known))
