"""Passwords: argon2id hashes that the web role never reads (DESIGN §9, migration 0011).

Checking a password takes two definer functions: ``eqreg_password_settings(username)`` gives the
stored hash's parameters and salt (not the hash), the app derives the hash the typed password
would have, and ``eqreg_verify_password(username, candidate)`` says whether they match. A SQL
injection in the web role can therefore learn salts, which are no secret, but no hash to attack
offline; guessing through the functions costs an argon2 computation per guess, like any guess.

Signing in is ``eqreg_sign_in`` (migration 0017): the same comparison, and on success the sign-in
time, a rehash, and a one-minute proof (a random secret of the app's) from which the database alone
makes the signed-in session or API token — the web role writes no account table itself.
"""
from __future__ import annotations

import base64
import secrets
from functools import lru_cache

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError
from argon2.low_level import hash_secret
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.errors import InvalidInput

MIN_LENGTH = 8
_SETTINGS = text("SELECT settings, hash_chars FROM eqreg_password_settings(:username)")
_SIGN_IN = text("SELECT eqreg_sign_in(:username, :candidate, :proof, :new_hash)")


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Derived against when the username is unknown, so both cases take the same time.
    return hasher().hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (refuses passwords that are too short)."""
    if len(password or "") < MIN_LENGTH:
        raise InvalidInput(f"密码至少需要 {MIN_LENGTH} 个字符。")
    return hasher().hash(password)


def _settings_of(encoded: str) -> tuple[str, int]:
    """The prefix up to and including the salt's ``$``, and the length of the hash after it."""
    prefix, _, digest = encoded.rpartition("$")
    return prefix + "$", len(digest)


def derive(settings: str, hash_chars: int, password: str) -> str | None:
    """The encoded argon2 hash ``password`` has under ``settings`` (None: not an argon2 hash)."""
    try:
        parameters = extract_parameters(settings + "A" * hash_chars)
        salt_b64 = settings[:-1].rpartition("$")[2]
        salt = base64.b64decode(salt_b64 + "=" * (-len(salt_b64) % 4))
        return hash_secret(password.encode(), salt, time_cost=parameters.time_cost,
                           memory_cost=parameters.memory_cost, parallelism=parameters.parallelism,
                           hash_len=parameters.hash_len, type=parameters.type,
                           version=parameters.version).decode()
    except (InvalidHashError, ValueError):
        return None


def sign_in(session: Session, *, username: str, password: str, proof: str | None = None) -> bool:
    """True when ``password`` is ``username``'s and the account is active; the database then notes
    the sign-in, stores a rehash when the parameters changed, and keeps ``proof`` (see
    ``registry.accounts.new_proof``) for the one session or token this sign-in may start.

    An unknown user or one without a password costs the same derivation, so the time taken does
    not tell whether an account exists.
    """
    row = session.execute(_SETTINGS, {"username": username}).one()
    settings, hash_chars = (row.settings, row.hash_chars) if row.settings else _settings_of(_dummy_hash())
    candidate = derive(settings, hash_chars, password or "")
    if not row.settings or candidate is None:
        return False
    new_hash = hash_password(password) if needs_rehash(candidate) and len(password) >= MIN_LENGTH else None
    return bool(session.scalar(_SIGN_IN, {"username": username, "candidate": candidate, "proof": proof,
                                          "new_hash": new_hash}))


def needs_rehash(encoded: str) -> bool:
    return hasher().check_needs_rehash(encoded)
