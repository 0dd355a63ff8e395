"""Symmetric encryption for secrets at rest (channel credentials, webhook secrets, API keys).

A list of keys (COMPTOIR_ENCRYPTION_KEYS): the first encrypts, every one decrypts
(`MultiFernet`), so a new key is put first, `comptoir rotate-keys` re-encrypts every stored
value with it, and the old key is then dropped from the list.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(ValueError):
    """The stored value was written with none of the keys (a key dropped too soon?)."""


Keys = str | Sequence[str]


@lru_cache(maxsize=16)
def _fernet(key: str) -> Fernet:
    # HKDF so that a key (or the Django secret, on installs from before dedicated keys) is
    # never used directly: any string of 32+ characters makes a key.
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"comptoir", info=b"channel-settings"
    ).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


@lru_cache(maxsize=8)
def _multi(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ValueError("no encryption key")
    return MultiFernet([_fernet(k) for k in keys])


def _keys(keys: Keys) -> tuple[str, ...]:
    return (keys,) if isinstance(keys, str) else tuple(keys)


def encrypt(plaintext: str, keys: Keys) -> str:
    """Encrypted with the first key."""
    return _multi(_keys(keys)).encrypt(plaintext.encode()).decode()


def decrypt(token: str, keys: Keys) -> str:
    """Decrypted with whichever key wrote it."""
    try:
        return _multi(_keys(keys)).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("cannot decrypt: none of COMPTOIR_ENCRYPTION_KEYS fits") from None


def rotate(token: str, keys: Keys) -> str:
    """The same secret encrypted again with the first key (`DecryptionError` if none fits)."""
    try:
        return _multi(_keys(keys)).rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("cannot decrypt: none of COMPTOIR_ENCRYPTION_KEYS fits") from None


def first_key_wrote(token: str, keys: Keys) -> bool:
    """Whether the first key decrypts `token` (it needs no rotation)."""
    try:
        _fernet(_keys(keys)[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True
