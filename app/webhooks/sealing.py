"""Signing secrets at rest (R199): sealed with Fernet (AES-128-CBC and HMAC-SHA256, from
``cryptography``) under a key derived from ``BCC_IMAGES_SECRET_KEY`` or, when that is unset,
from a key generated once and kept in the database (``service_secret``), so every process
and restart agrees on it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet

WEBHOOK_KEY = "webhook-secret-key"


class Sealer:
    """Seals and opens signing secrets with one key."""

    def __init__(self, key: bytes) -> None:
        digest = hashlib.sha256(b"bcc-images webhook secrets\0" + key).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, secret: str) -> str:
        """The secret as stored."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The stored secret in the clear (raises cryptography's InvalidToken under another
        key).
        """
        return self._fernet.decrypt(sealed.encode()).decode()
