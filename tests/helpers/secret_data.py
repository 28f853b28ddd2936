"""The values in a Secret object, and the check of a password against the htpasswd bcrypt hash it was given.

dec(secret, "auth")                          # the bytes of one key of a Secret's data (base64)
bcrypt_verifies(password, hashed)            # a $2y$ hash, as htpasswd and the role write it
htpasswd_verifies(password, dec(basic, "auth"))   # the one line of an htpasswd file
"""

from __future__ import annotations

import base64

import bcrypt


def dec(obj: dict, key: str) -> bytes:
    return base64.b64decode(obj["data"][key])


def bcrypt_verifies(password: str | bytes, hashed: str) -> bool:
    """Whether `password` matches `hashed`, a bcrypt hash as htpasswd writes it ($2y$, checked as the same $2b$)."""
    if isinstance(password, str):
        password = password.encode()
    return bcrypt.checkpw(password, hashed.replace("$2y$", "$2b$", 1).encode())


def htpasswd_verifies(password: str | bytes, auth: str | bytes) -> bool:
    """Whether `password` matches the hash of `auth`, an htpasswd file of exactly one (non-empty) line."""
    if isinstance(auth, bytes):
        auth = auth.decode()
    (line,) = [x for x in auth.split("\n") if x]
    return bcrypt_verifies(password, line.split(":", 1)[1])
