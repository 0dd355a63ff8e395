"""Symmetric encryption for secrets at rest (channel credentials)."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(ValueError):
    """The stored value was not written with this key (the key changed?)."""


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    # HKDF so the Django secret is never used directly as an encryption key.
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"comptoir", info=b"channel-settings"
    ).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plaintext: str, key: str) -> str:
    return _fernet(key).encrypt(plaintext.encode()).decode()


def decrypt(token: str, key: str) -> str:
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("cannot decrypt: wrong COMPTOIR_ENCRYPTION_KEY?") from None
