"""Property tests (hypothesis) of both modules and their helpers.

bcrypt runs at cost 4 here and example counts stay small so the unit suite stays well under a minute.
"""

from __future__ import annotations

import base64
import json
import os
import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.theedgeworks.devpi.plugins.module_utils.b64secret import (
    decode,
    encode,
    generate,
    other_alphabet,
    repair,
    validate_b64,
)
from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd import (
    assemble,
    parse_bcrypt,
    validate_users,
)
from ansible_collections.theedgeworks.devpi.plugins.modules import htpasswd_bcrypt, random_b64
from helpers.secret_data import bcrypt_verifies

# DEVPI_HYPOTHESIS_EXAMPLES=1000 for a longer local search.
SETTINGS = settings(
    max_examples=int(os.environ.get("DEVPI_HYPOTHESIS_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ALPHABETS = st.sampled_from(["standard", "urlsafe"])
MASKED = "occurs inside the module's result"

# Any text, including the characters the module must refuse.
any_text = st.text(st.characters(codec="utf-8"), max_size=300)
any_name = st.one_of(
    any_text,
    st.text(st.sampled_from("ab:#\n\r\x00\t é"), max_size=8),
    st.text(st.characters(codec="utf-8"), min_size=250, max_size=300),
)
any_password = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=80),
    st.text(st.sampled_from("xé\n\r\x00"), max_size=80),
)
# Names and passwords the module must accept.
good_name = st.text(
    st.characters(codec="utf-8", blacklist_categories=["Cc", "Cs", "Zl", "Zp"], blacklist_characters=":\x85"),
    min_size=1,
    max_size=60,
).filter(lambda s: not s.startswith("#") and s == s.strip() and len(s.encode()) <= 255)
good_password = st.text(
    st.characters(codec="utf-8", blacklist_categories=["Cs"], blacklist_characters="\x00\r\n"), min_size=1, max_size=72
).filter(lambda s: len(s.encode()) <= 72)


DIFF_VALUE = re.compile(r"<absent>|<present>|<kept>|<new>|<re-encoded, same bytes>|sha256:[0-9a-f]{16} \(generated\)")


def _ansible_mask(text, *secrets):
    """What AnsibleModule.exit_json/fail_json make of ``text`` when ``secrets`` are the no_log values."""
    secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
    if text in secrets:
        return "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    for secret in secrets:
        text = text.replace(secret, "********")
    return text


def _maskable(password, name):
    """Whether Ansible's no_log masking may legitimately hit the output (the module then fails on purpose)."""
    return len(password) <= 3 or password in name + ":$2y$04$" or password in "created kept rehashed"


# --- htpasswd_bcrypt ----------------------------------------------------------------------------------------


def _unreturnable(password, name):
    """Whether the module must refuse the user because Ansible would mask its result whatever the module does.

    The password then occurs inside a value the module has to return as it is: the user name (in ``order``,
    ``users`` and the new line), the start of the new line ``<name>:$2y$04$`` (the cost is 4 here), or the action
    ``created``. A password found only in the salt and hash is not this case: the module draws a new salt.
    """
    return password in name + ":$2y$04$" or password in "created"


@SETTINGS
@given(name=good_name, password=good_password)
def test_accepted_user_round_trips(module_runner, name, password):
    assume(not _unreturnable(password, name))  # refused, and tested so, below
    out = module_runner(htpasswd_bcrypt.main, {"users": [{"name": name, "password": password}], "cost": 4})
    assert out.rc == 0 and not out.result.get("failed")
    new_name, hashed = out.result["lines"][name].split(":", 1)
    assert new_name == name
    assert parse_bcrypt(hashed) == ("2y", 4)
    assert bcrypt_verifies(password, hashed)
    assert out.result["order"] == [name]


@SETTINGS
@given(name=good_name, data=st.data())
def test_unreturnable_user_is_refused(module_runner, name, data):
    whole = name + ":$2y$04$"
    start = data.draw(st.integers(0, len(whole) - 1))
    password = whole[start : data.draw(st.integers(start + 1, len(whole)))]
    users = [{"name": name, "password": password}]
    assume(validate_users(users) is None)  # valid input, refused for the masking alone
    out = module_runner(htpasswd_bcrypt.main, {"users": users, "cost": 4})
    assert out.rc == 1 and out.result["failed"] and "lines" not in out.result


@SETTINGS
@given(
    users=st.lists(st.fixed_dictionaries({"name": any_name, "password": any_password}), max_size=3),
    cost=st.sampled_from([-1, 0, 3, 4, 5, 18, 31, 40]),
)
def test_any_input_fails_cleanly_or_succeeds(module_runner, users, cost):
    # Costs stay cheap: an accepted cost of 17 would take seconds per hash (17 is covered by test_validate_cost_ok).
    # run_module_main lets every exception but SystemExit through: a traceback fails the test.
    out = module_runner(htpasswd_bcrypt.main, {"users": users, "cost": cost})
    problem = None if 4 <= cost <= 17 else "cost"
    if problem is None:
        problem = validate_users(users)
    if problem is not None:
        assert out.rc == 1 and out.result["failed"]
        passwords = [u["password"] for u in users]
        if problem == "cost":
            assert _ansible_mask("cost must be an integer from 4 to 17", *passwords) in out.result["msg"]
        else:
            assert out.result["msg"] == _ansible_mask(problem, *passwords)
    else:
        assert out.rc == 0 or _ansible_mask(MASKED, *[u["password"] for u in users]) in out.result["msg"]


@SETTINGS
@given(
    users=st.lists(st.tuples(good_name, good_password), min_size=1, max_size=3, unique_by=lambda u: u[0]),
    current=st.one_of(
        st.none(),
        any_text,
        st.lists(st.tuples(any_name, any_text)).map(lambda pairs: "\n".join("%s:%s" % pair for pair in pairs)),
    ),
)
def test_assembled_file_is_complete_and_stable(module_runner, users, current):
    wanted = [{"name": n, "password": p} for n, p in users]
    assume(not any(_maskable(p, n) for n, p in users))
    args = {"users": wanted, "cost": 4}
    if current is not None:
        args["current"] = current
    first = module_runner(htpasswd_bcrypt.main, args)
    if first.result.get("failed"):
        # Only masking can fail here (e.g. a password inside a user name of the current file being removed).
        assert _ansible_mask(MASKED, *[p for _n, p in users], current or "") in first.result["msg"]
        return
    content = assemble(current, first.result["order"], first.result["lines"])
    assert content.endswith("\n")
    entries = content[:-1].split("\n")
    assert [e.split(":", 1)[0] for e in entries] == [n for n, _pw in users]
    for entry, (_name, password) in zip(entries, users):
        assert bcrypt_verifies(password, entry.split(":", 1)[1])
    assert first.result["changed"] is (content != (current or ""))
    # A second run over the assembled file changes nothing.
    second = module_runner(htpasswd_bcrypt.main, dict(args, current=content))
    assert second.result["changed"] is False and second.result["lines"] == {}


# --- random_b64 --------------------------------------------------------------------------------------------


@SETTINGS
@given(nbytes=st.integers(1, 1024), alphabet=ALPHABETS)
def test_generated_value_decodes_to_n_bytes(nbytes, alphabet):
    value = generate(nbytes, alphabet)
    assert validate_b64(value, nbytes, alphabet)
    raw = value.encode()
    data = base64.urlsafe_b64decode(raw) if alphabet == "urlsafe" else base64.b64decode(raw, validate=True)
    assert len(data) == nbytes


@SETTINGS
@given(data=st.binary(min_size=1, max_size=200), alphabet=ALPHABETS, padded=st.booleans())
def test_repair_keeps_the_bytes(data, alphabet, padded):
    value = encode(data, alphabet)
    if not padded:
        value = value.rstrip("=")
    target = other_alphabet(alphabet)
    repaired = repair(value, len(data), target)
    if validate_b64(value, len(data), target):
        assert repaired is None
    else:
        assert repaired is not None
        assert decode(repaired, target) == data
        assert validate_b64(repaired, len(data), target)


@SETTINGS
@given(
    current=any_text,
    alphabet=ALPHABETS,
    nbytes=st.integers(1, 64),
    repair_flag=st.booleans(),
    mode=st.sampled_from(["never", "fail", "full_idempotence", "always"]),
)
def test_random_b64_any_current(module_runner, current, alphabet, nbytes, repair_flag, mode):
    args = {"current": current, "alphabet": alphabet, "num_bytes": nbytes, "repair": repair_flag, "regenerate": mode}
    out = module_runner(random_b64.main, args, diff=True)
    r = out.result
    if r.get("failed"):
        assert mode == "fail" or _ansible_mask("Ansible would mask it", current) in r["msg"]
        return
    if "value" in r:
        assert validate_b64(r["value"], nbytes, alphabet)
        assert "*" not in r["value"] and (current == "" or current not in r["value"])
        if r["repaired"]:
            assert decode(r["value"], alphabet) == decode(current, other_alphabet(alphabet)) or decode(
                r["value"], alphabet
            ) == decode(current + "=" * (-len(current) % 4), other_alphabet(alphabet))
    assert r["changed"] is ("value" in r)
    assert r["valid"] is (current != "" and validate_b64(current, nbytes, alphabet))
    # The diff says absent or present before; after, a fingerprint only of a value it generated (16+ bytes).
    assert r["diff"]["before"]["value"] == _ansible_mask("<present>" if current else "<absent>", current)
    after = r["diff"]["after"]["value"]
    assert DIFF_VALUE.fullmatch(after) or after == _ansible_mask(after, current), after
    assert ("sha256:" in after) is (r["generated"] and nbytes >= 16)
    assert "len" not in json.dumps(r["diff"])
