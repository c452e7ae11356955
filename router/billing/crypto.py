"""Encryption at rest for bring-your-own provider keys (Fernet: AES-128-CBC + HMAC-SHA256).

The Fernet key comes from `SWITCHYARD_SECRET_KEY` (a Fernet key, or any passphrase, which is
stretched with SHA-256), else from a file created beside the database with 0600 permissions. Losing
that secret makes stored provider keys unreadable, never readable by someone else.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["SecretBox", "load_or_create_secret"]


class SecretBox:
    """Encrypts and decrypts short secrets; decrypt failures raise ValueError without the data."""

    def __init__(self, secret: str | bytes, *, cache_size: int = 1024):
        self._fernet = Fernet(_as_fernet_key(secret))
        # Decrypting costs ~20 µs; BYOK requests would pay it every time. Entries are keyed by
        # ciphertext, so a replaced or deleted key is simply never looked up again.
        self.decrypt = functools.lru_cache(maxsize=cache_size)(self._decrypt)  # type: ignore[method-assign]

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        return self._decrypt(token)

    def _decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            raise ValueError("stored provider key cannot be decrypted with the configured secret key") from None


def _as_fernet_key(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret file, or create it with 0600 permissions; with several workers, first wins.

    The key is written to a private temporary file and then hard-linked into place, so no worker
    can ever read a half-written secret.
    """
    if path.exists():
        return path.read_bytes().strip()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_bytes().strip()
