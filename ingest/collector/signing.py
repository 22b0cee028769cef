"""Optional HMAC-SHA256 signing of request bodies (integrity, and a time window against replays).

A client signs the body exactly as sent (after any gzip) with its key's signing secret:

    X-Playpulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(signing secret, "<t>." + body)>

The signing secret of a key is HMAC-SHA256(server key, API key), hex: `playpulse keys create`
prints it next to the key. The collector derives it again from the API key presented with the
request, so neither the key nor the secret is stored anywhere; the server key lives in
`collector.signing_key` or, by default, `data_dir/secrets/collector-signing.key` (created on
first use, mode 0600). A signature is checked whenever the header is present, and required for
keys created with `--require-signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from ingest.collector.keys import AuthError
from playpulse.config import Settings

__all__ = [
    "SIGNATURE_HEADER",
    "check_signature",
    "load_server_key",
    "sign",
    "signing_secret",
]

SIGNATURE_HEADER = "X-Playpulse-Signature"


def load_server_key(settings: Settings) -> bytes:
    """The collector's server key: configured, or read from (or created in) data_dir/secrets."""
    if settings.collector.signing_key is not None:
        return settings.collector.signing_key.get_secret_value().encode()
    path = settings.data_dir / "secrets" / "collector-signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    return Path(path).read_text().strip().encode()


def signing_secret(server_key: bytes, api_key: str) -> str:
    return hmac.new(server_key, api_key.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for `body` at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def check_signature(secret: str, header: str | None, body: bytes, now_s: float, max_age_s: float) -> None:
    """Raise `AuthError` (401) unless `header` is a valid, fresh signature of `body`."""
    if not header:
        raise AuthError("signature_required", 401, f"this API key requires a {SIGNATURE_HEADER} header")
    parts = dict(part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise AuthError(
            "bad_signature", 401, f"{SIGNATURE_HEADER} must look like t=<unix seconds>,v1=<hex>"
        ) from None
    if abs(now_s - timestamp) > max_age_s:
        raise AuthError(
            "stale_signature",
            401,
            f"the signature timestamp is more than {max_age_s:.0f} s from the collector clock",
        )
    expected = sign(secret, body, timestamp).rsplit("=", 1)[1]
    if not hmac.compare_digest(expected.encode(), given.encode("ascii", "replace")):
        raise AuthError(
            "bad_signature", 401, "the body signature does not match; sign the body exactly as sent"
        )
