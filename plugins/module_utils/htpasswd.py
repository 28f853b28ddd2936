# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure helpers for bcrypt htpasswd files (no Ansible imports; needs the ``bcrypt`` package only to hash/verify).

Used by the ``theedgeworks.devpi.htpasswd_bcrypt`` module; importable and testable on its own.

File layout handled here (Apache ``htpasswd``, nginx ``auth_basic_user_file``, ingress-nginx ``auth-file``):
one ``name:hash`` per line; lines are split on ``\\n`` only. Blank lines are ignored; lines starting with ``#``
(comments for nginx and Apache) and lines without ``:`` cannot describe a user and are dropped. The canonical
output is one line per user, in the order of the ``users`` list, each ending with ``\\n``.
"""

from __future__ import annotations

import re

try:
    import bcrypt

    HAS_BCRYPT = True
    BCRYPT_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without bcrypt
    bcrypt = None
    HAS_BCRYPT = False
    BCRYPT_IMPORT_ERROR = exc

from ansible_collections.theedgeworks.devpi.plugins.module_utils.rules import (
    MAX_COST,
    MAX_NAME_BYTES,
    MAX_PASSWORD_BYTES,
    MIN_COST,
    WARN_COST,
    bcrypt_cost_problem,
    htpasswd_password_problem,
    htpasswd_user_problem,
)

IDENT = "2y"
REGENERATE_MODES = ("partial_idempotence", "full_idempotence", "always")
# Re-exported for the module and the tests: the rules themselves live in rules.py.
__all__ = ["MAX_COST", "MAX_NAME_BYTES", "MAX_PASSWORD_BYTES", "MIN_COST", "WARN_COST"]

_BCRYPT_RE = re.compile(r"\A\$(2[aby])\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}\Z")

COST_WARNING = (
    "cost %d is above %d: nginx verifies the bcrypt hash again on every request, without a cache "
    "(measured requests/s with one worker: cost 5: 332, cost 10: 11.3, cost 12: 2.8). "
    "A long random password at cost 5 is both faster and safer."
)


# --------------------------------------------------------------------------------------------------------------------
# Hashing


def parse_bcrypt(hashed):
    """Return ``(ident, cost)`` of a bcrypt hash (``'2y'``, ``5``), or ``None`` when it is not bcrypt."""
    if not isinstance(hashed, str):
        return None
    match = _BCRYPT_RE.match(hashed)
    if not match:
        return None
    return match.group(1), int(match.group(2))


def _require_bcrypt():
    if not HAS_BCRYPT:
        raise RuntimeError("the Python library bcrypt is required: %s" % BCRYPT_IMPORT_ERROR)


def hash_password(password, cost):
    """bcrypt hash of ``password`` (str) with ident ``$2y$`` and the given cost, as str.

    ``$2y$`` and ``$2b$`` are the same algorithm (both fixed the 2011 sign-extension bug; ``2b`` also fixed a
    wrap-around for passwords over 255 bytes, which we never hash); only the label differs.
    """
    _require_bcrypt()
    if isinstance(cost, bool) or not isinstance(cost, int) or not 4 <= cost <= 31:
        raise ValueError("cost must be an integer from 4 to 31")
    pw = password.encode("utf-8")
    if len(pw) > MAX_PASSWORD_BYTES:
        raise ValueError("password longer than %d bytes" % MAX_PASSWORD_BYTES)
    salt = bcrypt.gensalt(rounds=cost, prefix=b"2b")
    try:
        hashed = bcrypt.hashpw(pw, b"$2y$" + salt[4:])
    except ValueError:  # pragma: no cover - bcrypt releases that refuse a $2y$ salt
        hashed = bcrypt.hashpw(pw, salt)
    hashed = hashed.decode("ascii")
    return "$2y$" + hashed[4:]


def verify(password, hashed):
    """True when ``password`` matches the bcrypt hash ``hashed`` (``$2y$``, ``$2b$`` or ``$2a$``).

    A hash whose cost is outside 4-17 is never verified (False): at cost 31 bcrypt runs for days, so a hostile line
    in a Secret could stall the run. Apache htpasswd writes nothing outside that range either.
    """
    _require_bcrypt()
    parsed = parse_bcrypt(hashed)
    if parsed is None or not MIN_COST <= parsed[1] <= MAX_COST:
        return False
    try:
        pw = password.encode("utf-8")
    except UnicodeError:
        return False
    if not pw or len(pw) > MAX_PASSWORD_BYTES or b"\x00" in pw:
        return False
    # For passwords of at most 72 bytes the three idents compute the same hash; normalise to the one every
    # bcrypt release accepts.
    normalised = ("$2b$" + hashed[4:]).encode("ascii")
    try:
        return bcrypt.checkpw(pw, normalised)
    except ValueError:
        return False


def describe_hash(hashed):
    """What a diff may say of a stored hash: its scheme and cost, nothing derived from the hash itself.

    A hash comes from a password a person may have chosen: even a SHA-256 of it would be a handle for guessing.
    """
    parsed = parse_bcrypt(hashed)
    return "not bcrypt" if parsed is None else "bcrypt, cost %d" % parsed[1]


# --------------------------------------------------------------------------------------------------------------------
# Validation


def validate_cost(cost):
    """Error message for an unacceptable cost, else ``None`` (rule: rules.bcrypt_cost_problem)."""
    problem = bcrypt_cost_problem(cost)
    return None if problem is None else "cost " + problem


def validate_users(users):
    """Return the first error message about ``users`` (naming entries by index only), or ``None``.

    Names and passwords follow rules.htpasswd_user_problem and rules.htpasswd_password_problem; names are unique.
    """
    if not isinstance(users, (list, tuple)) or not users:
        return "users must be a non-empty list"
    seen = {}
    for index, user in enumerate(users):
        where = "users[%d]" % index
        if not isinstance(user, dict):
            return "%s must be a dictionary with the keys name and password" % where
        name = user.get("name")
        problem = htpasswd_user_problem(name)
        if problem is not None:
            return "%s.name %s" % (where, problem)
        if name in seen:
            return "%s.name is the same as users[%d].name: user names must be unique" % (where, seen[name])
        seen[name] = index
        problem = htpasswd_password_problem(user.get("password"))
        if problem is not None:
            return "%s.password %s" % (where, problem)
    return None


# --------------------------------------------------------------------------------------------------------------------
# Parsing and assembling


def _split_lines(text):
    if not text:
        return []
    return text.split("\n")


def parse_htpasswd(text):
    """Return the ``(name, hash)`` pairs of ``text`` in file order (duplicates included).

    Blank lines, comments (first character ``#``) and lines without ``:`` are skipped; see ``unusable_lines``.
    The line is split at its first ``:``; the hash is everything after it, unstripped (a trailing ``\\r`` or blank
    makes it an invalid hash, which is then replaced).
    """
    pairs = []
    for line in _split_lines(text):
        if line.strip() == "" or line.startswith("#") or ":" not in line:
            continue
        name, hashed = line.split(":", 1)
        pairs.append((name, hashed))
    return pairs


def unusable_lines(text):
    """Return ``(line_number, reason)`` for comment lines and lines without ``:`` (1-based line numbers)."""
    found = []
    for number, line in enumerate(_split_lines(text), start=1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            found.append((number, "comment"))
        elif ":" not in line:
            found.append((number, "no ':'"))
    return found


def assemble(current, order, lines):
    """Build the file content from the module's result, exactly as the documented Jinja expression does.

    ``current``: the text given to the module; ``order``: returned user names in output order; ``lines``: returned
    ``name -> "name:hash"`` for created and rehashed users. Kept users' lines are taken from ``current``.
    """
    by_name = {}
    for line in _split_lines(current or ""):
        if ":" in line:
            by_name[line.split(":", 1)[0]] = line
    by_name.update(lines)
    return "".join(by_name[name] + "\n" for name in order)


# --------------------------------------------------------------------------------------------------------------------
# Planning


class Plan:
    """What ``plan`` decided. Attributes:

    * ``users``: list of ``{"name", "action"}``, action in created, kept, rehashed, removed; removed ones last.
    * ``order``: user names in output order (the ``users`` option order).
    * ``lines``: ``name -> "name:$2y$..."`` for created and rehashed users only.
    * ``before`` / ``after``: ``name -> describe_hash`` (or ``new bcrypt hash, cost N``) for diffs.
    * ``warnings``: messages without secret material.
    * ``changed``: the assembled content differs from ``current``.
    * ``reformatted``: changed although no user is created, rehashed or removed (layout only).
    """

    def __init__(self):
        self.users = []
        self.order = []
        self.lines = {}
        self.before = {}
        self.after = {}
        self.warnings = []
        self.changed = False
        self.reformatted = False
        self._passwords = {}
        self._cost = None
        self._hasher = None

    def resalt(self, name):
        """Hash a created/rehashed user's password again with a new salt (used when a line must change)."""
        if name not in self.lines:
            raise KeyError(name)
        hashed = self._hasher(self._passwords[name], self._cost)
        self.lines[name] = "%s:%s" % (name, hashed)
        self.after[name] = "new bcrypt hash, cost %d" % self._cost


def plan(users, current, cost, regenerate="full_idempotence", hasher=hash_password, verifier=verify):
    """Decide per user whether to keep, create or rehash its line; users missing from ``users`` are removed.

    ``users`` must have passed ``validate_users`` and ``cost`` ``validate_cost``.

    * ``partial_idempotence``: keep a bcrypt line whose hash verifies the password.
    * ``full_idempotence``: keep it only if it also has the requested cost and the ``$2y$`` ident.
    * ``always``: hash every password again.

    A line is never kept when its hash is not bcrypt (for example ``$apr1$`` or ``{SHA}``) or when the user has
    several lines in ``current``: the user then gets one new line (action ``rehashed``).
    """
    if regenerate not in REGENERATE_MODES:
        raise ValueError("regenerate must be one of %s" % ", ".join(REGENERATE_MODES))
    current = current or ""
    result = Plan()
    result._cost = cost
    result._hasher = hasher

    existing = {}
    counts = {}
    for name, hashed in parse_htpasswd(current):
        counts[name] = counts.get(name, 0) + 1
        if name not in existing:
            existing[name] = hashed
    for name, hashed in existing.items():
        suffix = " (%d lines)" % counts[name] if counts[name] > 1 else ""
        result.before[name] = describe_hash(hashed) + suffix

    unusable = unusable_lines(current)
    if unusable:
        result.warnings.append(
            "current: dropped %d line(s) that describe no user (comment or no ':'): line(s) %s"
            % (len(unusable), ", ".join(str(number) for number, _reason in unusable))
        )
    duplicated = [name for name in existing if counts[name] > 1]
    if duplicated:
        result.warnings.append(
            "current: %d user name(s) appear on several lines; each gets one new line" % len(duplicated)
        )

    wanted = set()
    for user in users:
        name, password = user["name"], user["password"]
        wanted.add(name)
        result.order.append(name)
        result._passwords[name] = password
        old = existing.get(name)
        if old is None:
            action = "created"
        elif regenerate == "always" or counts[name] > 1:
            action = "rehashed"
        else:
            # Ident and cost first: a line that must be rehashed anyway is never verified (see verify()).
            parsed = parse_bcrypt(old)
            if parsed is None or (regenerate == "full_idempotence" and (parsed[0] != IDENT or parsed[1] != cost)):
                action = "rehashed"
            elif not verifier(password, old):
                action = "rehashed"
            else:
                action = "kept"
        result.users.append({"name": name, "action": action})
        if action == "kept":
            result.after[name] = result.before[name]
        else:
            hashed = hasher(password, cost)
            result.lines[name] = "%s:%s" % (name, hashed)
            result.after[name] = "new bcrypt hash, cost %d" % cost

    for name in existing:
        if name not in wanted:
            result.users.append({"name": name, "action": "removed"})

    rewritten = any(user["action"] != "kept" for user in result.users)
    result.changed = rewritten or assemble(current, result.order, result.lines) != current
    result.reformatted = result.changed and not rewritten
    return result
