"""Access to the collector: API keys stored only as salted hashes, body signatures, token buckets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ingest.collector.keys import AuthError, KeyStore, ensure_key_file
from ingest.collector.rate_limit import RateLimiter, TokenBucket, retry_after
from ingest.collector.signing import check_signature, sign, signing_secret


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "api_keys.sqlite", refresh_s=0)


def test_a_created_key_authenticates(store: KeyStore) -> None:
    key, secret = store.create("tv-app", rate_per_s=50.0, burst=100)
    assert secret.startswith(f"pp_{key.key_id}_")
    assert store.authenticate(secret) == key
    assert (key.name, key.rate_per_s, key.burst, key.active) == ("tv-app", 50.0, 100, True)


def test_only_salted_hashes_are_stored(store: KeyStore, tmp_path: Path) -> None:
    _, first = store.create("tv-app")
    _, second = store.create("tv-app")
    rows = sqlite3.connect(tmp_path / "api_keys.sqlite").execute("SELECT * FROM api_keys").fetchall()
    stored = b"".join(str(v).encode() if not isinstance(v, bytes) else v for row in rows for v in row)
    for secret in (first, second):
        assert secret.split("_", 2)[2].encode() not in stored
    assert rows[0][2] != rows[1][2]  # each key has its own salt


@pytest.mark.parametrize(
    ("presented", "code", "status"),
    [
        (None, "missing_api_key", 401),
        ("", "missing_api_key", 401),
        ("not-a-key", "invalid_api_key", 401),
        ("pp_000000000000_" + "x" * 43, "invalid_api_key", 401),  # no such key id
    ],
)
def test_missing_and_unknown_keys(store: KeyStore, presented: str | None, code: str, status: int) -> None:
    store.create("tv-app")
    with pytest.raises(AuthError) as caught:
        store.authenticate(presented)
    assert (caught.value.code, caught.value.status) == (code, status)


def test_a_wrong_secret_for_a_real_key_id(store: KeyStore) -> None:
    key, secret = store.create("tv-app")
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with pytest.raises(AuthError) as caught:
        store.authenticate(wrong)
    assert caught.value.code == "invalid_api_key"


def test_revoked_keys_are_forbidden_also_in_another_process(store: KeyStore, tmp_path: Path) -> None:
    collector_view = KeyStore(tmp_path / "api_keys.sqlite", refresh_s=0)  # as the running collector
    key, secret = store.create("tv-app")
    assert collector_view.authenticate(secret).key_id == key.key_id
    revoked = store.revoke(key.key_id)
    assert [k.key_id for k in revoked] == [key.key_id] and revoked[0].revoked_ms is not None
    with pytest.raises(AuthError) as caught:
        collector_view.authenticate(secret)
    assert (caught.value.code, caught.value.status) == ("revoked_api_key", 403)


def test_revoke_by_application_name(store: KeyStore) -> None:
    a, _ = store.create("web")
    b, _ = store.create("web")
    c, _ = store.create("tv")
    assert {k.key_id for k in store.revoke("web")} == {a.key_id, b.key_id}
    assert store.revoke("web") == []
    assert [k.key_id for k in store.list() if k.active] == [c.key_id]


def test_the_demo_key_file_is_reused_while_valid(store: KeyStore, tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "demo.key"
    first = ensure_key_file(store, "demo", path)
    assert path.read_text().strip() == first and path.stat().st_mode & 0o777 == 0o600
    assert ensure_key_file(store, "demo", path) == first
    store.revoke("demo")
    second = ensure_key_file(store, "demo", path)
    assert second != first and store.authenticate(second).name == "demo"


# -- signatures ------------------------------------------------------------------------------------
SECRET = signing_secret(b"server-key", "pp_0123456789ab_secret")
BODY = b'[{"event_type": "HEARTBEAT"}]'


def test_a_valid_signature_passes() -> None:
    check_signature(SECRET, sign(SECRET, BODY, 1_800_000_000), BODY, 1_800_000_010.0, 300)


@pytest.mark.parametrize(
    ("header", "body", "now", "code"),
    [
        (None, BODY, 1_800_000_000.0, "signature_required"),
        ("v1=abc", BODY, 1_800_000_000.0, "bad_signature"),
        ("t=soon,v1=abc", BODY, 1_800_000_000.0, "bad_signature"),
        (sign(SECRET, BODY, 1_800_000_000), BODY + b" ", 1_800_000_000.0, "bad_signature"),
        (sign("another secret", BODY, 1_800_000_000), BODY, 1_800_000_000.0, "bad_signature"),
        (sign(SECRET, BODY, 1_800_000_000), BODY, 1_800_000_301.0, "stale_signature"),
        (sign(SECRET, BODY, 1_800_000_000).replace("v1=", "v1=00"), BODY, 1_800_000_000.0, "bad_signature"),
    ],
)
def test_bad_signatures(header: str | None, body: bytes, now: float, code: str) -> None:
    with pytest.raises(AuthError) as caught:
        check_signature(SECRET, header, body, now, 300)
    assert (caught.value.code, caught.value.status) == (code, 401)


def test_the_signing_secret_depends_on_server_key_and_api_key() -> None:
    assert signing_secret(b"k1", "pp_a") != signing_secret(b"k2", "pp_a") != signing_secret(b"k1", "pp_b")
    assert len(SECRET) == 64


# -- token buckets ---------------------------------------------------------------------------------
def test_token_bucket_pinned_numbers() -> None:
    bucket = TokenBucket(rate=100.0, burst=500, now=0.0)
    assert bucket.take(500, 0.0) == 0.0
    assert bucket.take(50, 0.25) == pytest.approx(0.25)  # 25 tokens there, 25 more take 0.25 s
    assert bucket.take(50, 0.5) == 0.0  # 50 tokens there now
    assert bucket.tokens == pytest.approx(0.0)
    assert bucket.wait_for(1, 0.5) == pytest.approx(0.01)
    assert bucket.take(10_000, 100.0) == 0.0  # more than the burst: takes a full bucket
    assert bucket.tokens == 0
    assert bucket.take(10_000, 101.0) == pytest.approx(4.0)  # 100 there, a full bucket is 500


def test_rate_limiter_keeps_a_bucket_per_key_with_its_own_limits() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=10.0, burst=20, clock=lambda: now[0])
    assert limiter.take("a", 20) == 0.0
    assert limiter.take("a", 1) == pytest.approx(0.1)
    assert limiter.take("b", 20) == 0.0  # another key, another bucket
    assert limiter.take("c", 200, rate=1000.0, burst=200) == 0.0
    now[0] = 1.0
    assert limiter.take("a", 10) == 0.0


@pytest.mark.parametrize(("seconds", "header"), [(0.001, 1), (1.0, 1), (1.2, 2), (59.5, 60)])
def test_retry_after_is_whole_seconds_at_least_one(seconds: float, header: int) -> None:
    assert retry_after(seconds) == header
