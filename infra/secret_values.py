"""The values Airflow needs that nobody has to know: one generator each, shared by the GCP deploy and `local`.

Each value is long enough for the algorithm that uses it:
- `fernet_key` ([core] fernet_key): a Fernet key, 32 random bytes in url-safe base64, the only format
  Fernet accepts.
- `jwt_secret` ([api_auth] jwt_secret): the API signs its tokens with HS512, whose key must be at least
  as long as the hash (64 bytes, RFC 7518 section 3.2; PyJWT warns below that).
- `api_secret_key` ([api] secret_key): an HMAC signing key too; the same 64 bytes.

The keys of `GENERATORS` are the secret names the stacks create (stacks/secret_manager.py reads them
from here); `local` stores the same names with dashes.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

MIN_HMAC_BYTES = 64  # SHA-512's output size


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def hmac_key() -> str:
    # 64 random bytes as url-safe text: 86 characters, so the key Airflow hands to the HMAC is 86 bytes.
    return secrets.token_urlsafe(MIN_HMAC_BYTES)


GENERATORS = {
    "fernet_key": fernet_key,
    "api_secret_key": hmac_key,
    "jwt_secret": hmac_key,
}
NAMES = tuple(GENERATORS)


def generate(name: str) -> str:
    """A new value for the secret `name` (one of NAMES)."""
    return GENERATORS[name]()


def strong_enough(name: str, value: str) -> bool:
    """Whether a stored value fits its algorithm (values kept from older versions may not)."""
    if GENERATORS[name] is fernet_key:
        try:
            return len(base64.urlsafe_b64decode(value.encode())) == 32
        except (binascii.Error, ValueError):
            return False
    return len(value.encode()) >= MIN_HMAC_BYTES
