"""Static reference data of the simulated service: regions, countries, ISPs, devices, ladder, codes.

Everything here is a constant; nothing is random. `world.py` draws the per-run variation (ISP and
appliance quality, users, titles) on top of it. Figures follow DESIGN.md's Appendix where it gives
one (the encoding ladder, appliance capacities and fill rates) and public industry rules of thumb
otherwise (TV-heavy evening viewing, mobile-heavy South Asia, slower start-up on smart TVs).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "APP_VERSION_ADOPTION",
    "DEVICES",
    "ERROR_CODES",
    "ERROR_CODE_NAMES",
    "GENRES",
    "ISPS",
    "LADDER_KBPS",
    "REGIONS",
    "DeviceProfile",
    "IspProfile",
    "RegionProfile",
]

#: Encoding ladder of a title, kbps (240p, 360p, 480p, 720p, 1080p, 4K HDR).
LADDER_KBPS: tuple[int, ...] = (235, 560, 1050, 2800, 5800, 15600)


@dataclass(frozen=True)
class RegionProfile:
    """A delivery region: its fixed UTC offset (no daylight saving), population and network quality."""

    name: str
    utc_offset_min: int
    population_share: float
    countries: tuple[tuple[str, float], ...]  # (ISO 3166-1 alpha-2, share of the region's members)
    device_mix: tuple[float, float, float, float, float]  # TV, MOBILE, TABLET, WEB, CONSOLE
    startup_factor: float = 1.0
    rebuffer_factor: float = 1.0
    throughput_factor: float = 1.0


_DEFAULT_MIX = (0.46, 0.24, 0.08, 0.14, 0.08)

REGIONS: tuple[RegionProfile, ...] = (
    RegionProfile("us-east", -300, 0.22, (("US", 0.86), ("CA", 0.14)), _DEFAULT_MIX),
    RegionProfile("us-west", -480, 0.12, (("US", 0.9), ("CA", 0.1)), _DEFAULT_MIX, 1.0, 0.9, 1.05),
    RegionProfile(
        "sa-east", -180, 0.14, (("BR", 0.75), ("AR", 0.25)), (0.4, 0.35, 0.07, 0.14, 0.04), 1.15, 1.5, 0.6
    ),
    RegionProfile("eu-west", 0, 0.10, (("GB", 0.75), ("IE", 0.1), ("PT", 0.15)), _DEFAULT_MIX, 0.95, 0.9),
    RegionProfile(
        "eu-central",
        60,
        0.16,
        (("DE", 0.34), ("FR", 0.3), ("NL", 0.1), ("PL", 0.12), ("IT", 0.14)),
        _DEFAULT_MIX,
        0.95,
        0.9,
    ),
    RegionProfile("ap-south", 330, 0.08, (("IN", 1.0),), (0.2, 0.6, 0.06, 0.12, 0.02), 1.35, 2.2, 0.45),
    RegionProfile(
        "ap-northeast", 540, 0.10, (("JP", 0.6), ("KR", 0.4)), (0.4, 0.3, 0.08, 0.14, 0.08), 0.9, 0.7, 1.3
    ),
    RegionProfile("ap-southeast", 600, 0.08, (("AU", 0.85), ("NZ", 0.15)), _DEFAULT_MIX, 1.1, 1.2, 0.8),
)


@dataclass(frozen=True)
class IspProfile:
    """An access network of one country and its share of that country's members."""

    country: str
    name: str
    share: float


def _isps(country: str, *pairs: tuple[str, float]) -> tuple[IspProfile, ...]:
    return tuple(IspProfile(country, name, share) for name, share in pairs)


ISPS: tuple[IspProfile, ...] = (
    *_isps(
        "US",
        ("comcast", 0.3),
        ("charter", 0.22),
        ("att", 0.16),
        ("verizon", 0.14),
        ("cox", 0.08),
        ("frontier", 0.05),
        ("tmobile", 0.05),
    ),
    *_isps("CA", ("rogers", 0.35), ("bell", 0.35), ("telus", 0.3)),
    *_isps("BR", ("vivo", 0.35), ("claro", 0.35), ("oi", 0.15), ("tim", 0.15)),
    *_isps("AR", ("telecom-argentina", 0.45), ("claro", 0.3), ("telecentro", 0.25)),
    *_isps("GB", ("bt", 0.35), ("virgin-media", 0.3), ("sky", 0.25), ("talktalk", 0.1)),
    *_isps("IE", ("eir", 0.5), ("virgin-media", 0.5)),
    *_isps("PT", ("meo", 0.55), ("nos", 0.45)),
    *_isps("DE", ("deutsche-telekom", 0.4), ("vodafone", 0.3), ("telefonica-de", 0.15), ("1und1", 0.15)),
    *_isps("FR", ("orange", 0.4), ("free", 0.25), ("sfr", 0.2), ("bouygues", 0.15)),
    *_isps("NL", ("kpn", 0.5), ("ziggo", 0.5)),
    *_isps("PL", ("orange-pl", 0.45), ("play", 0.3), ("netia", 0.25)),
    *_isps("IT", ("tim-it", 0.45), ("fastweb", 0.3), ("vodafone", 0.25)),
    *_isps("IN", ("jio", 0.45), ("airtel", 0.35), ("act", 0.1), ("bsnl", 0.1)),
    *_isps("JP", ("ntt", 0.45), ("kddi", 0.3), ("softbank", 0.25)),
    *_isps("KR", ("kt", 0.4), ("sk-broadband", 0.35), ("lg-uplus", 0.25)),
    *_isps("AU", ("telstra", 0.45), ("optus", 0.3), ("tpg", 0.25)),
    *_isps("NZ", ("spark", 0.55), ("one-nz", 0.45)),
)


@dataclass(frozen=True)
class DeviceProfile:
    """A device class: its platforms, app versions and QoE character.

    `startup_median_ms` is the median video start time on a healthy network; the factors multiply
    the base rebuffer rate, start-failure and playback-failure probabilities and the throughput;
    `bitrate_caps` are (highest ladder rung, share of devices); `buffer_max_s` is the buffer target.
    """

    name: str
    os: tuple[tuple[str, float], ...]
    app_versions: tuple[str, ...]  # newest first; adoption 60% / 28% / 12%
    startup_median_ms: float
    rebuffer_factor: float
    start_failure_factor: float
    playback_failure_factor: float
    throughput_factor: float
    bitrate_caps: tuple[tuple[int, float], ...]
    buffer_max_s: float


_MOBILE_APPS = ("16.4.1", "16.3.0", "15.48.2")

DEVICES: tuple[DeviceProfile, ...] = (
    DeviceProfile(
        "TV",
        (
            ("tizen", 0.3),
            ("webos", 0.22),
            ("androidtv", 0.2),
            ("roku", 0.15),
            ("tvos", 0.08),
            ("fireos", 0.05),
        ),
        ("8.112.0", "8.111.2", "8.104.1"),
        1050.0,
        0.8,
        1.0,
        1.1,
        1.0,
        ((4, 0.8), (5, 0.2)),
        240.0,
    ),
    DeviceProfile(
        "MOBILE",
        (("android", 0.6), ("ios", 0.4)),
        _MOBILE_APPS,
        780.0,
        1.6,
        0.9,
        1.0,
        0.45,
        ((3, 0.5), (4, 0.5)),
        90.0,
    ),
    DeviceProfile(
        "TABLET",
        (("ipados", 0.55), ("android", 0.45)),
        _MOBILE_APPS,
        820.0,
        1.2,
        0.9,
        0.9,
        0.7,
        ((4, 1.0),),
        120.0,
    ),
    DeviceProfile(
        "WEB",
        (("windows", 0.6), ("macos", 0.3), ("chromeos", 0.05), ("linux", 0.05)),
        ("6.0.318", "6.0.311", "5.9.902"),
        740.0,
        1.0,
        1.4,
        1.2,
        0.9,
        ((4, 0.85), (5, 0.15)),
        120.0,
    ),
    DeviceProfile(
        "CONSOLE",
        (("playstation", 0.55), ("xbox", 0.45)),
        ("3.20.0", "3.19.1", "3.12.4"),
        870.0,
        0.7,
        0.8,
        0.7,
        1.1,
        ((4, 0.5), (5, 0.5)),
        240.0,
    ),
)

#: Adoption of the newest, previous and oldest supported app version.
APP_VERSION_ADOPTION: tuple[float, float, float] = (0.6, 0.28, 0.12)

GENRES: tuple[str, ...] = (
    "drama",
    "comedy",
    "action",
    "thriller",
    "crime",
    "documentary",
    "kids",
    "anime",
    "reality",
    "romance",
    "horror",
    "scifi",
)

#: Player error codes and their shares, by the phase in which they happen.
ERROR_CODES: dict[str, tuple[tuple[str, float], ...]] = {
    "start_failure": (
        ("NETWORK_TIMEOUT", 0.35),
        ("DRM_LICENSE", 0.25),
        ("MANIFEST_LOAD", 0.2),
        ("CDN_UNREACHABLE", 0.1),
        ("PLAYER_INIT", 0.1),
    ),
    "playback_failure": (
        ("NETWORK_TIMEOUT", 0.4),
        ("DECODE", 0.25),
        ("CDN_UNREACHABLE", 0.15),
        ("DRM_LICENSE", 0.1),
        ("OUT_OF_MEMORY", 0.1),
    ),
    "non_fatal": (
        ("SEGMENT_TIMEOUT", 0.5),
        ("SUBTITLE_LOAD", 0.2),
        ("DECODE_WARNING", 0.2),
        ("LICENSE_RENEWAL_RETRY", 0.1),
    ),
}

#: Every error code once, in a fixed order: the index space of error-code columns.
ERROR_CODE_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(code for pairs in ERROR_CODES.values() for code, _ in pairs)
)
