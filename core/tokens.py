"""The pre-registration token: what the resident's QR code carries.

The token is a capability: the application id says which ciphertext to fetch, the key
decrypts it. Nobody without the token, the server included, can read the application.

Format, version 1 (54 characters, all in the QR alphanumeric set, so the code stays at
QR version 4 with error correction Q, or version 5 with H, and scans from a phone screen)::

    MDGP1:<id 16><key 26><check 6>

- ``MDGP`` names the kind of code (``MDGF`` is the form code printed on paper), ``1`` is the
  version, ``:`` ends the prefix. A scanner tells the two kinds apart by the prefix.
- ``id`` is the application id as issued (``core.application.new_application_id``):
  16 characters of Crockford base32, 80 random bits.
- ``key`` is the 128-bit AES-GCM key in Crockford base32: 26 characters, the last one
  carrying 3 bits of key and 2 zero bits.
- ``check`` is the first 30 bits of SHA-256 over the prefix, id and key, in 6 Crockford
  characters. QR codes correct their own errors; the check catches a token that was
  typed or copied by hand wrongly, before any request is made.

The status token (``MDGS1:``, same layout and checks) is printed on the kiosk's slip
(受付票): the application id and the random key of its progress page (core.progress), for an
application that did not come from a pre-registration.

A QR code may carry either token as the last path segment of a URL (the status page's,
``https://CITY.EXAMPLE/S/MDGP1:…``), so a phone camera opens the page; `token_in` takes the
token out of such a text, and every decoder here calls it, so the kiosk and the camera accept
the URL as they accept the bare token. The host does not matter: the token's own check
characters decide, and the id and key are then checked as for a bare token.

Why Crockford base32 rather than base45: base45 uses the space character, which
keyboard-wedge scanners and ``str.strip`` lose at either end, and ``% + /`` that break
in URLs and shells. Crockford base32 uses digits and capital letters only, reads aloud
without confusion (no I, L, O, U), and 54 characters still leave room under the 64-character
limit. Decoding accepts lower case and the usual misreadings (I, L → 1; O → 0), and
ignores spaces and hyphens a person may add when typing it.
"""
from __future__ import annotations

import hashlib
import re

from core.application import ID_LENGTH
from core.errors import MadoguchiError

KIND = "MDGP"
VERSION = 1
PREFIX = f"{KIND}{VERSION}:"
STATUS_KIND = "MDGS"     # the slip's status token: an application id and its progress key
STATUS_PREFIX = f"{STATUS_KIND}{VERSION}:"
KEY_BYTES = 16
KEY_CHARS = 26           # ceil(128 / 5)
CHECK_CHARS = 6          # 30 bits
TOKEN_LENGTH = len(PREFIX) + ID_LENGTH + KEY_CHARS + CHECK_CHARS   # 54
MAX_TOKEN_LENGTH = 64    # the promise to the QR code: alphanumeric, version ≤ 5 even at level H

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_VALUE.update({"I": 1, "L": 1, "O": 0})
_PREFIX_RE = {kind: re.compile(rf"^{kind}(\d+):") for kind in (KIND, STATUS_KIND)}
# Separators a person may type; never part of a token.
_IGNORED = re.compile(r"[\s\-]")


class TokenError(MadoguchiError):
    """A token that cannot be used. Codes: malformed, bad_version, bad_checksum (reading the
    token), unknown_id, wrong_key, expired (opening the application; see core.sealed)."""

    code = "malformed"


def _b32encode(data: bytes, chars: int) -> str:
    n = int.from_bytes(data, "big") << (chars * 5 - len(data) * 8)
    return "".join(ALPHABET[(n >> (5 * i)) & 31] for i in reversed(range(chars)))


def _b32decode(text: str, nbytes: int) -> bytes:
    n = 0
    for c in text:
        n = (n << 5) | _VALUE[c]
    spare = len(text) * 5 - nbytes * 8
    if n & ((1 << spare) - 1):
        raise TokenError("padding bits of the key are not zero", code="malformed")
    return (n >> spare).to_bytes(nbytes, "big")


def _check(prefix: str, app_id: str, key_text: str) -> str:
    digest = hashlib.sha256(f"{prefix}{app_id}{key_text}".encode("ascii")).digest()
    return _b32encode(digest[:4], 7)[:CHECK_CHARS]


def _encode(prefix: str, app_id: str, key: bytes) -> str:
    if len(app_id) != ID_LENGTH or any(c not in ALPHABET for c in app_id):
        raise ValueError("not an application id")
    if len(key) != KEY_BYTES:
        raise ValueError(f"the key must be {KEY_BYTES} bytes")
    key_text = _b32encode(key, KEY_CHARS)
    token = f"{prefix}{app_id}{key_text}{_check(prefix, app_id, key_text)}"
    assert len(token) == TOKEN_LENGTH <= MAX_TOKEN_LENGTH
    return token


def encode_token(app_id: str, key: bytes) -> str:
    """The pre-registration token for an application id and its 128-bit key."""
    return _encode(PREFIX, app_id, key)


def encode_status_token(app_id: str, key: bytes) -> str:
    """The slip's status token for an application id and its 128-bit progress key."""
    return _encode(STATUS_PREFIX, app_id, key)


def token_in(text: str) -> str:
    """The token in scanned or typed text: the text itself, or the last path segment of a URL
    (query and fragment dropped). Any host is accepted; the token's own check decides."""
    if not isinstance(text, str):
        return text
    text = text.strip()
    if "/" in text:
        text = text.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return text


def looks_like_token(text: str) -> bool:
    """Whether scanned text (or a URL holding it) is meant to be a pre-registration token (of any version)."""
    return isinstance(text, str) and _IGNORED.sub("", token_in(text)).upper().startswith(KIND)


def looks_like_status_token(text: str) -> bool:
    """Whether scanned text (or a URL holding it) is meant to be a slip's status token."""
    return isinstance(text, str) and _IGNORED.sub("", token_in(text)).upper().startswith(STATUS_KIND)


def decode_token(text: str) -> tuple[str, bytes]:
    """(application id, key) from a pre-registration token or a URL ending in one; raises
    TokenError (malformed, bad_version, bad_checksum).

    The error messages never repeat the token: it is the key to a person's application.
    """
    return _decode(KIND, text)


def decode_status_token(text: str) -> tuple[str, bytes]:
    """(application id, progress key) from a status token (or a URL ending in one), as decode_token."""
    return _decode(STATUS_KIND, text)


def _decode(kind: str, text: str) -> tuple[str, bytes]:
    if not isinstance(text, str) or len(text) > 4 * MAX_TOKEN_LENGTH:
        raise TokenError("not a pre-registration token", code="malformed")
    s = _IGNORED.sub("", token_in(text)).upper()
    m = _PREFIX_RE[kind].match(s)
    if not m:
        raise TokenError("not a pre-registration token", code="malformed")
    if int(m.group(1)) != VERSION:
        raise TokenError(f"token version {m.group(1)} is not supported", code="bad_version")
    body = s[m.end():]
    if len(body) != ID_LENGTH + KEY_CHARS + CHECK_CHARS or any(c not in _VALUE for c in body):
        raise TokenError("the token has the wrong length or characters", code="malformed")
    body = "".join(ALPHABET[_VALUE[c]] for c in body)  # I, L → 1; O → 0
    app_id, key_text = body[:ID_LENGTH], body[ID_LENGTH:ID_LENGTH + KEY_CHARS]
    if body[ID_LENGTH + KEY_CHARS:] != _check(f"{kind}{VERSION}:", app_id, key_text):
        raise TokenError("the token's check characters do not match", code="bad_checksum")
    return app_id, _b32decode(key_text, KEY_BYTES)
