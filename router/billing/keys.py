"""API key material: generation, hashing for look-up, telemetry ids and header parsing.

Keys carry 256 random bits, so a plain SHA-256 is a safe at-rest form (there is nothing to
brute-force, unlike a password) and lets the store find a key by an indexed equality look-up. The
telemetry id is a *different* hash, so logs and events never hold the stored look-up hash either.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from .errors import AuthenticationError

__all__ = ["KEY_PREFIX", "generate_key", "hash_key", "key_id_for", "bearer_token", "hashes_match"]

KEY_PREFIX = "sk-sy-"
_KEY_ID_DOMAIN = b"switchyard-key-id\x00"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(secret: str) -> str:
    """The stored form of a key: hex SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_for(secret: str) -> str:
    """Short, non-reversible id for telemetry and admin routes (16 hex chars of a domain-separated hash)."""
    return hashlib.sha256(_KEY_ID_DOMAIN + secret.encode()).hexdigest()[:16]


def hashes_match(stored_hash: str, presented_hash: str) -> bool:
    """Constant-time comparison, so response timing reveals nothing about stored hashes."""
    return hmac.compare_digest(stored_hash.encode(), presented_hash.encode())


def bearer_token(authorization_header: str | None) -> str:
    """The key from `Authorization: Bearer <key>`; errors never quote the header."""
    if not authorization_header:
        raise AuthenticationError("Missing Authorization header; send 'Authorization: Bearer <key>'")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("Malformed Authorization header; expected 'Bearer <key>'")
    return token
