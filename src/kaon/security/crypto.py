"""Encryption at rest of job commands and environments (AES-256-GCM).

Commands and environments routinely carry credentials (`--token=...`, `WANDB_API_KEY`), and the
database file is copied around (backups, `kaon history`). They are sealed with AES-GCM under a
32-byte key kept outside the database. Each sealed value names the key it was sealed with (a short
key id) and is bound to its row (associated data), so a wrong key fails with a clear message and a
ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
KEY_ENV = "KAON_SECRET_KEY"


class SecretKeyError(ValueError):
    """A key is missing, malformed or not the one a value was sealed with."""




def generate_key() -> str:
    """A new random key, URL-safe base64 (what key files and KAON_SECRET_KEY hold)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def write_new_key(path: Path) -> str:
    """Create `path` (mode 0600, failing if it exists) holding a new key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


class Cipher:
    """Seals and opens JSON values with one AES-256-GCM key."""

    def __init__(self, key: str, source: str = "key") -> None:
        try:
            raw = base64.urlsafe_b64decode(key.strip().encode())
        except (ValueError, TypeError):
            raise SecretKeyError(f"{source}: not base64") from None
        if len(raw) != 32:
            raise SecretKeyError(f"{source}: a key is 32 bytes (base64), got {len(raw)} bytes")
        self._aead = AESGCM(raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:12]

    @classmethod
    def from_file(cls, path: Path) -> Cipher:
        try:
            return cls(path.read_text(), str(path))
        except OSError as e:
            raise SecretKeyError(f"{path}: cannot read key: {e.strerror}") from None

    def seal(self, value: object, aad: str) -> str:
        nonce = secrets.token_bytes(12)
        data = json.dumps(value, separators=(",", ":")).encode()
        blob = base64.b64encode(nonce + self._aead.encrypt(nonce, data, aad.encode())).decode()
        return f"{_VERSION}:{self.key_id}:{blob}"

    def open(self, sealed: str, aad: str) -> object:
        try:
            version, key_id, blob = sealed.split(":", 2)
        except ValueError:
            raise SecretKeyError(f"{aad}: not a sealed value") from None
        if version != _VERSION:
            raise SecretKeyError(f"{aad}: unknown sealing version {version!r}")
        if key_id != self.key_id:
            raise SecretKeyError(f"{aad}: sealed with key {key_id}, not with the given key {self.key_id}")
        raw = base64.b64decode(blob)
        try:
            data = self._aead.decrypt(raw[:12], raw[12:], aad.encode())
        except InvalidTag:
            raise SecretKeyError(f"{aad}: ciphertext does not authenticate (tampered, or moved between rows)") from None
        return json.loads(data)


def sealed_key_id(sealed: str) -> str:
    """The id of the key a sealed value was sealed with (it is stored in the clear beside it)."""
    parts = sealed.split(":", 2)
    if len(parts) != 3:
        raise SecretKeyError("not a sealed value")
    return parts[1]


def resolve_cipher(key_file: Path | None, key: str | None, default_file: Path) -> Cipher:
    """The service's key: `--key-file`, else KAON_SECRET_KEY, else a key file generated once in the
    state directory (encryption is always on; the generated file only protects copies of the
    database that travel without the state directory)."""
    if key_file is not None:
        return Cipher.from_file(key_file)
    if key:
        return Cipher(key, KEY_ENV)
    if not default_file.exists():
        try:
            write_new_key(default_file)
        except FileExistsError:
            pass
    return Cipher.from_file(default_file)
