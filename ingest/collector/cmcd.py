"""CMCD beacons (CTA-5004, plus the v2 keys of CTA-5004-A) mapped onto `PlaybackEvent` items.

A standard player that reports Common Media Client Data as a JSON object (or an array of them)
to `POST /v1/cmcd` needs no playpulse SDK. `from_cmcd` turns one beacon into a native event
item, which then passes the same validation as any other (`validation.BatchValidator`).

| CMCD key | CMCD meaning | PlaybackEvent field |
|---|---|---|
| `sid` | session id (required here) | `session_id` |
| `cid` | content id (required here) | `title_id` |
| `br` | encoded bitrate, kbps | `bitrate_kbps` |
| `bl` | buffer length, ms | `buffer_length_ms` |
| `mtp` | measured throughput, kbps | `throughput_kbps` |
| `ts` (v2) | when it happened, ms since the epoch | `event_ts_ms` (else the collector's clock) |
| `pt` (v2) | playhead time, ms | `position_ms` |
| `msd` (v2) | media start delay, ms | `startup_ms`, and the event is a PLAY_START |
| `cdn` (v2) | delivery network | `cdn` |
| `ec` (v2) | player error code(s) | `error_code` (joined by `,`), and the event is an ERROR |
| `sta` (v2) | player state | `event_type`, see below |
| `e` (v2) | reporting event | `e` (error) → ERROR; other events take their type from `sta` |
| `bs` | buffer starved since the previous report | `event_type` REBUFFER_START (see below) |
| `d`, `ot`, `sf`, `st`, `su`, `tb`, `dl`, `nor`, … | no PlaybackEvent field has their meaning | ignored |

`sta` → `event_type`: s → PLAY_REQUEST; p, a, w, d → HEARTBEAT; k → SEEK; r → REBUFFER_START;
e → PLAY_END (`end_reason` COMPLETED); q → PLAY_END (USER_EXIT); f → ERROR with `fatal` true.

Event type precedence: an error (`ec`, `e`=`e`, `sta`=`f`) wins, then `msd` (the start-up
report), then `sta`, then `bs`; a beacon with none of them is a HEARTBEAT.

What CMCD does not carry comes from playpulse's custom keys (CMCD reserves hyphenated names for
this), from the request, or is marked unknown:

| field | custom key | otherwise |
|---|---|---|
| `user_id` | `com.playpulse-uid` | `cmcd:` + `sid` (an anonymous viewer per session) |
| `event_id` | `com.playpulse-eid` | UUID-5 of API key and mapped beacon: a resent beacon, one id |
| `seq` | `com.playpulse-seq` | 0 |
| `device.type` | `com.playpulse-device` | from the User-Agent (TV, CONSOLE, TABLET, MOBILE, WEB, OTHER) |
| `device.os` | `com.playpulse-os` | from the User-Agent, else `unknown` |
| `device.app_version` | `com.playpulse-app` | `unknown` |
| `region`, `isp`, `oca_id` | `com.playpulse-region`, `-isp`, `-oca` | `unknown`, `unknown`, null |
| `country` | `com.playpulse-country` | `ZZ` (ISO 3166 "unknown") |

Type errors in CMCD keys are rejected as `invalid_cmcd` naming the key; range errors of the
mapped values carry the CMCD key as their field (`CMCD_KEY_OF`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ingest.collector.validation import Rejection, json_type

__all__ = ["CMCD_KEY_OF", "CmcdContext", "from_cmcd", "device_from_user_agent"]

CUSTOM = "com.playpulse-"
_NAMESPACE = uuid.UUID("6c1f0f0e-5b8e-4c57-9d5e-6b2f1c0a9e11")

#: Numeric CMCD keys and the field each one fills.
_NUMBERS = {
    "br": "bitrate_kbps",
    "bl": "buffer_length_ms",
    "mtp": "throughput_kbps",
    "ts": "event_ts_ms",
    "pt": "position_ms",
    "msd": "startup_ms",
}
_STRINGS = {"sid": "session_id", "cid": "title_id", "cdn": "cdn"}
_STATES = {
    "s": ("PLAY_REQUEST", None),
    "p": ("HEARTBEAT", None),
    "a": ("HEARTBEAT", None),
    "w": ("HEARTBEAT", None),
    "d": ("HEARTBEAT", None),
    "k": ("SEEK", None),
    "r": ("REBUFFER_START", None),
    "e": ("PLAY_END", "COMPLETED"),
    "q": ("PLAY_END", "USER_EXIT"),
    "f": ("ERROR", None),
}
_CUSTOM_STRINGS = {
    "uid": "user_id",
    "eid": "event_id",
    "region": "region",
    "country": "country",
    "isp": "isp",
    "oca": "oca_id",
}

#: PlaybackEvent field → the CMCD key it came from, to name the key in rejections.
CMCD_KEY_OF: dict[str, str] = {
    **{field: key for key, field in _NUMBERS.items()},
    **{field: key for key, field in _STRINGS.items()},
    **{field: CUSTOM + key for key, field in _CUSTOM_STRINGS.items()},
    "error_code": "ec",
    "seq": CUSTOM + "seq",
    "device.type": CUSTOM + "device",
    "device.os": CUSTOM + "os",
    "device.app_version": CUSTOM + "app",
}


@dataclass(frozen=True)
class CmcdContext:
    """What the request adds to a beacon: the collector clock, the API key, the User-Agent."""

    received_ms: int
    key_id: str
    user_agent: str = ""


_TV = (
    "smart-tv",
    "smarttv",
    "tizen",
    "web0s",
    "webos",
    "appletv",
    "apple tv",
    "tvos",
    "aftb",
    "aftm",
    "afts",
    "aftt",
    "crkey",
    "roku",
    "bravia",
    "hbbtv",
    "android tv",
    "googletv",
)
_CONSOLES = ("playstation", "xbox", "nintendo")
_OS = (
    ("tizen", "tizen"),
    ("web0s", "webos"),
    ("webos", "webos"),
    ("tvos", "tvos"),
    ("appletv", "tvos"),
    ("iphone", "ios"),
    ("ipad", "ios"),
    ("playstation", "playstation"),
    ("xbox", "xbox"),
    ("roku", "roku"),
    ("android", "android"),
    ("windows", "windows"),
    ("mac os x", "macos"),
    ("macintosh", "macos"),
    ("cros", "chromeos"),
    ("linux", "linux"),
)


def device_from_user_agent(user_agent: str) -> tuple[str, str]:
    """(device type, os) guessed from a User-Agent; ("OTHER", "unknown") when it says nothing."""
    ua = user_agent.lower()
    os_name = next((name for marker, name in _OS if marker in ua), "unknown")
    if any(marker in ua for marker in _TV):
        return "TV", os_name
    if any(marker in ua for marker in _CONSOLES):
        return "CONSOLE", os_name
    if "ipad" in ua or "tablet" in ua or ("android" in ua and "mobile" not in ua and "mozilla" in ua):
        return "TABLET", os_name
    if "mobile" in ua or "iphone" in ua or "android" in ua:
        return "MOBILE", os_name
    if "mozilla" in ua:
        return "WEB", os_name
    return "OTHER", os_name


def _invalid(key: str, detail: str) -> Rejection:
    return Rejection("invalid_cmcd", key, detail)


def from_cmcd(beacon: Any, context: CmcdContext) -> dict[str, Any] | Rejection:
    """The native event item for one CMCD JSON beacon, or why it cannot be one."""
    if type(beacon) is not dict:
        return Rejection("not_an_object", None, f"a CMCD beacon is a JSON object, not {json_type(beacon)}")
    item: dict[str, Any] = {}
    for key, target in _NUMBERS.items():
        value = beacon.get(key)
        if value is None:
            continue
        if type(value) not in (int, float):
            return _invalid(key, f"CMCD {key} must be a number, not {json_type(value)}")
        item[target] = value
    for key, target in _STRINGS.items():
        value = beacon.get(key)
        if value is None:
            continue
        if type(value) is not str:
            return _invalid(key, f"CMCD {key} must be a string, not {json_type(value)}")
        item[target] = value
    for key in ("sid", "cid"):
        if _STRINGS[key] not in item:
            return _invalid(key, f"a CMCD beacon needs {key} ({_STRINGS[key]})")
    for key in ("bs", "su", "bg"):
        if key in beacon and type(beacon[key]) is not bool:
            return _invalid(key, f"CMCD {key} must be true or false, not {json_type(beacon[key])}")
    for key in ("sta", "e", "ot", "sf", "st"):
        if key in beacon and type(beacon[key]) is not str:
            return _invalid(key, f"CMCD {key} must be a token (string), not {json_type(beacon[key])}")

    errors = beacon.get("ec")
    if errors is not None:
        if type(errors) is str:
            errors = [errors]
        if type(errors) is not list or not errors or any(type(e) is not str for e in errors):
            return _invalid("ec", "CMCD ec must be a string or a non-empty list of strings")
        item["error_code"] = ",".join(errors)

    state = beacon.get("sta")
    if state is not None and state not in _STATES:
        return _invalid("sta", f"CMCD sta must be one of {', '.join(_STATES)}, not {state[:16]!r}")
    if "error_code" in item or beacon.get("e") == "e" or state == "f":
        item["event_type"] = "ERROR"
        item["fatal"] = state == "f"
        item.setdefault("error_code", "unknown")
    elif "startup_ms" in item:
        item["event_type"] = "PLAY_START"
    elif state is not None:
        item["event_type"], end_reason = _STATES[state]
        if end_reason is not None:
            item["end_reason"] = end_reason
    elif beacon.get("bs") is True:
        item["event_type"] = "REBUFFER_START"
    else:
        item["event_type"] = "HEARTBEAT"

    custom = {k[len(CUSTOM) :]: v for k, v in beacon.items() if k.startswith(CUSTOM)}
    for key, target in _CUSTOM_STRINGS.items():
        value = custom.get(key)
        if value is not None:
            if type(value) is not str:
                return _invalid(CUSTOM + key, f"{CUSTOM}{key} must be a string, not {json_type(value)}")
            item[target] = value
    seq = custom.get("seq")
    if seq is not None:
        item["seq"] = seq  # type and range checked as `seq`
    guessed_type, guessed_os = device_from_user_agent(context.user_agent)
    device = {
        "type": custom.get("device", guessed_type),
        "os": custom.get("os", guessed_os),
        "app_version": custom.get("app", "unknown"),
    }
    item["device"] = device
    item.setdefault("user_id", f"cmcd:{item['session_id']}")
    item.setdefault("event_ts_ms", context.received_ms)
    item.setdefault("region", "unknown")
    item.setdefault("country", "ZZ")
    item.setdefault("isp", "unknown")
    item.setdefault("cdn", "unknown")
    if "event_id" not in item:
        item["event_id"] = _event_id(item, context.key_id)
    return item


def _event_id(item: Mapping[str, Any], key_id: str) -> str:
    """A stable id for a beacon without one: the same beacon from the same key, the same id."""
    try:
        canonical = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits: still an id
        canonical = repr(sorted(item.items(), key=lambda kv: kv[0])).encode("utf-8", "surrogatepass")
    return str(uuid.uuid5(_NAMESPACE, key_id + "\x00" + canonical.decode("utf-8", "replace")))
