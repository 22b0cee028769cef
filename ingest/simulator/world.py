"""The simulated world: members, titles, the release calendar, appliances and networks.

`World(config)` is a pure function of the config (seed, sizes, range): the same config gives the
same world, bit for bit. Members have a home region, country, ISP, one to three devices and two
persistent propensities (activity: lognormal, mean 1, so pre-period behaviour predicts the test
period, which is what CUPED needs; watch length: lognormal, mean 1). Titles have a Zipf-like base
popularity, a regional affinity, a duration by kind, and a release time: most are catalog titles
released years ago, some launched in the 60 days before the range (still decaying), and
`releases_per_day` launch inside the range at 08:00 UTC with a launch boost that decays
exponentially (a typical launch briefly rivals the most popular title). Appliances (OCAs) are
embedded in the larger ISPs of each region and stacked at one IXP site per region, storage
(36–120 TB, 1.2 Gbps fill) and flash (2–8 TB, 0.3 Gbps fill).

The NumPy arrays are what the generator reads; the `pyarrow.Table` properties are for people and
for the other parts of playpulse (fill planning reads `ocas` and `release_calendar`).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pyarrow as pa

from . import catalog
from .config import SimulationConfig
from .ids import fixed_width_ids

__all__ = ["FLASH_SERVE_SHARE", "HOT_TITLE_SHARE", "LAUNCH_REFERENCE_RANK", "OCA_EMBEDDED_SHARE", "World"]

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_MINUTE_MS = 60_000
_TB = 10**12

#: Share of a member's OCA sessions served by its ISP's embedded site when the ISP has one.
OCA_EMBEDDED_SHARE = 0.8
#: Share of a site's hot-title sessions served from its flash appliances when it has some.
FLASH_SERVE_SHARE = 0.6
#: The most popular titles (by base popularity) that flash appliances hold, as a share of titles.
HOT_TITLE_SHARE = 0.05
#: A launch boost is counted in units of the base popularity of the title of this rank.
LAUNCH_REFERENCE_RANK = 20
#: Days after launch during which a new release also counts as hot.
_HOT_RELEASE_DAYS = 14
_RECENT_DAYS = 60
_CATALOG_YEARS = 5
_SLOT_SHARE = ((1.0, 0.0, 0.0), (0.7, 0.3, 0.0), (0.6, 0.28, 0.12))


class World:
    """Members, titles, appliances and networks of one simulation, deterministic for the config."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x3041D]))
        self._build_geography(rng)
        self._build_devices()
        self._build_users(rng)
        self._build_titles(rng)
        self._build_ocas(rng)

    # ----------------------------------------------------------------- build

    def _build_geography(self, rng: np.random.Generator) -> None:
        regions = catalog.REGIONS
        self.region_names: tuple[str, ...] = tuple(r.name for r in regions)
        self.region_offset_min = np.array([r.utc_offset_min for r in regions], dtype=np.int64)
        share = np.array([r.population_share for r in regions])
        self.region_share = share / share.sum()
        self.region_startup = np.array([r.startup_factor for r in regions])
        self.region_rebuffer = np.array([r.rebuffer_factor for r in regions])
        self.region_throughput = np.array([r.throughput_factor for r in regions])
        self.country_names: tuple[str, ...] = tuple(
            dict.fromkeys(code for r in regions for code, _ in r.countries)
        )
        self.isp_names: tuple[str, ...] = tuple(dict.fromkeys(i.name for i in catalog.ISPS))
        n_isps = len(self.isp_names)
        # Quality of each access network (by name): start-up and rebuffer factors, median throughput.
        self.isp_startup = np.exp(rng.normal(0.0, 0.12, n_isps))
        self.isp_rebuffer = np.exp(rng.normal(0.0, 0.3, n_isps))
        self.isp_throughput_kbps = 18_000.0 * np.exp(rng.normal(0.0, 0.3, n_isps))
        # Member share of each ISP within each region: sum over countries of country × ISP share.
        self.region_isp_share = np.zeros((len(regions), n_isps))
        country_isps: dict[str, list[tuple[int, float]]] = {}
        for isp in catalog.ISPS:
            country_isps.setdefault(isp.country, []).append((self.isp_names.index(isp.name), isp.share))
        self._country_isps = country_isps
        for r, region in enumerate(regions):
            for code, weight in region.countries:
                for isp, isp_share in country_isps[code]:
                    self.region_isp_share[r, isp] += weight * isp_share
        cdns = self.config.third_party_cdns
        self.cdn_names: tuple[str, ...] = ("oca", *(name for name, _ in cdns))
        tp = np.array([w for _, w in cdns], dtype=np.float64)
        oca = self.config.oca_share
        self.cdn_share = np.concatenate([[oca], (1 - oca) * tp / tp.sum()]) if len(tp) else np.array([1.0])
        self.cdn_startup = np.concatenate([[1.0], np.full(len(tp), 1.15)])
        self.cdn_rebuffer = np.concatenate([[1.0], np.full(len(tp), 1.3)])

    def _build_devices(self) -> None:
        devices = catalog.DEVICES
        self.device_type_names: tuple[str, ...] = tuple(d.name for d in devices)
        self.os_names: tuple[str, ...] = tuple(dict.fromkeys(os for d in devices for os, _ in d.os))
        self.app_version_names: tuple[str, ...] = tuple(
            dict.fromkeys(v for d in devices for v in d.app_versions)
        )
        self.device_startup_ms = np.array([d.startup_median_ms for d in devices])
        self.device_rebuffer = np.array([d.rebuffer_factor for d in devices])
        self.device_start_failure = np.array([d.start_failure_factor for d in devices])
        self.device_playback_failure = np.array([d.playback_failure_factor for d in devices])
        self.device_throughput = np.array([d.throughput_factor for d in devices])
        self.device_buffer_max_s = np.array([d.buffer_max_s for d in devices])

    def _build_users(self, rng: np.random.Generator) -> None:
        cfg = self.config
        n = cfg.users
        self.user_ids: pa.StringArray = fixed_width_ids("u", np.arange(1, n + 1), max(7, len(str(n))))
        self.user_region = rng.choice(len(self.region_names), size=n, p=self.region_share).astype(np.int8)
        self.user_country = np.zeros(n, dtype=np.int16)
        self.user_isp = np.zeros(n, dtype=np.int16)
        for r, region in enumerate(catalog.REGIONS):
            members = np.flatnonzero(self.user_region == r)
            codes = [self.country_names.index(c) for c, _ in region.countries]
            weights = np.array([w for _, w in region.countries])
            self.user_country[members] = np.array(codes)[
                rng.choice(len(codes), size=len(members), p=weights / weights.sum())
            ]
        for c, code in enumerate(self.country_names):
            members = np.flatnonzero(self.user_country == c)
            isps = self._country_isps[code]
            weights = np.array([s for _, s in isps])
            picks = rng.choice(len(isps), size=len(members), p=weights / weights.sum())
            self.user_isp[members] = np.array([i for i, _ in isps])[picks]
        sigma = cfg.activity_sigma
        self.user_activity = np.exp(rng.normal(0.0, 1.0, n) * sigma - sigma**2 / 2)
        self.user_watch = np.exp(rng.normal(0.0, 0.35, n) - 0.35**2 / 2)

        self.user_devices = (1 + rng.binomial(2, 0.35, n)).astype(np.int8)
        mix = np.array([r.device_mix for r in catalog.REGIONS])
        mix_cdf = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
        u = rng.random((n, 3))
        dev_type = (u[:, :, None] > mix_cdf[self.user_region][:, None, :-1]).sum(axis=2).astype(np.int8)
        dev_os = np.zeros((n, 3), dtype=np.int16)
        dev_app = np.zeros((n, 3), dtype=np.int16)
        dev_cap = np.zeros((n, 3), dtype=np.int8)
        adoption = np.array(catalog.APP_VERSION_ADOPTION)
        for d, device in enumerate(catalog.DEVICES):
            slots = dev_type == d
            k = int(slots.sum())
            os_codes = np.array([self.os_names.index(os) for os, _ in device.os])
            os_w = np.array([w for _, w in device.os])
            dev_os[slots] = os_codes[rng.choice(len(os_codes), size=k, p=os_w / os_w.sum())]
            apps = np.array([self.app_version_names.index(v) for v in device.app_versions])
            dev_app[slots] = apps[rng.choice(len(apps), size=k, p=adoption / adoption.sum())]
            caps = np.array([c for c, _ in device.bitrate_caps])
            cap_w = np.array([w for _, w in device.bitrate_caps])
            dev_cap[slots] = caps[rng.choice(len(caps), size=k, p=cap_w / cap_w.sum())]
        self.user_device_type, self.user_device_os = dev_type, dev_os
        self.user_device_app, self.user_device_cap = dev_app, dev_cap
        self.slot_share = np.array(_SLOT_SHARE)

    def _build_titles(self, rng: np.random.Generator) -> None:
        cfg = self.config
        t = cfg.titles
        self.title_ids: pa.StringArray = fixed_width_ids("t", np.arange(1, t + 1), max(5, len(str(t))))
        self.title_kind = (rng.random(t) >= 0.3).astype(np.int8)  # 0 movie, 1 episode
        movie_min = np.clip(rng.normal(108.0, 18.0, t), 75.0, 180.0)
        episode_min = rng.choice([22.0, 30.0, 45.0, 55.0, 60.0], size=t, p=[0.2, 0.15, 0.3, 0.15, 0.2])
        episode_min = episode_min + rng.uniform(-3.0, 3.0, t)
        minutes = np.where(self.title_kind == 0, movie_min, episode_min)
        self.title_duration_ms = np.round(minutes * _MINUTE_MS / 1000.0).astype(np.int64) * 1000
        genre_w = np.array([12, 11, 10, 9, 8, 6, 8, 6, 6, 5, 4, 5], dtype=np.float64)
        self.genre_names: tuple[str, ...] = catalog.GENRES
        self.title_genre = rng.choice(len(genre_w), size=t, p=genre_w / genre_w.sum()).astype(np.int8)
        regional = rng.random(t) < 0.6
        home = rng.choice(len(self.region_names), size=t, p=self.region_share)
        self.title_home_region = np.where(regional, home, -1).astype(np.int8)
        affinity = np.exp(rng.normal(0.0, 0.4, (t, len(self.region_names))))
        affinity[np.flatnonzero(regional), home[regional]] *= 2.5
        self.title_affinity = affinity
        self.title_rank = (rng.permutation(t) + 1).astype(np.int32)
        self.title_popularity = self.title_rank.astype(np.float64) ** -cfg.zipf_exponent

        # Release calendar: launches inside the range, recent launches, and the back catalog.
        start, end = cfg.start_ms, cfg.end_ms
        first_hour = start + (-start) % _HOUR_MS
        hours = np.arange(first_hour, end, _HOUR_MS, dtype=np.int64)
        launch_slots = hours[hours % _DAY_MS == 8 * _HOUR_MS]
        if len(launch_slots) == 0:
            launch_slots = hours
        n_new = min(int(round(cfg.releases_per_day * cfg.days)), t // 5) if len(launch_slots) else 0
        n_recent = min(int(round(cfg.releases_per_day * _RECENT_DAYS)), t // 5)
        # New releases lean popular: pick them with weight rank^-0.5.
        pick_w = self.title_rank.astype(np.float64) ** -0.5
        picked = rng.choice(t, size=n_new + n_recent, replace=False, p=pick_w / pick_w.sum())
        day0 = start - start % _DAY_MS
        release = (
            day0 - rng.integers(_RECENT_DAYS * _DAY_MS // _HOUR_MS, _CATALOG_YEARS * 365 * 24, t) * _HOUR_MS
        )
        release[picked[:n_new]] = launch_slots[rng.integers(0, len(launch_slots), n_new)] if n_new else 0
        recent_days = rng.integers(1, _RECENT_DAYS + 1, n_recent)
        release[picked[n_new:]] = day0 - recent_days * _DAY_MS + 8 * _HOUR_MS
        self.title_release_ms = release.astype(np.int64)
        # At launch a title gains launch_boost × the base popularity of rank LAUNCH_REFERENCE_RANK, so a
        # typical launch (boost 12) briefly rivals the most popular title, then decays to its own base.
        self._launch_unit = float(LAUNCH_REFERENCE_RANK**-cfg.zipf_exponent)
        self.title_launch_boost = 12.0 * np.exp(rng.normal(0.0, 0.6, t))
        self.title_launch_decay_ms = 6.0 * _DAY_MS * np.exp(rng.normal(0.0, 0.4, t))
        self.title_new_in_range = np.zeros(t, dtype=bool)
        self.title_new_in_range[picked[:n_new]] = True
        n_hot = max(1, int(round(HOT_TITLE_SHARE * t)))
        self.title_always_hot = self.title_rank <= n_hot

    def _build_ocas(self, rng: np.random.Generator) -> None:
        ids: list[str] = []
        region: list[int] = []
        isp: list[int] = []
        kind: list[int] = []
        site_of: list[int] = []
        n_regions = len(self.region_names)
        self.embedded_site = np.full((n_regions, len(self.isp_names)), -1, dtype=np.int32)
        self.ixp_site = np.zeros(n_regions, dtype=np.int32)
        site = 0
        for r, name in enumerate(self.region_names):
            region_big = self.region_share[r] >= 0.12
            for i in np.flatnonzero(self.region_isp_share[r] >= 0.08):
                share = self.region_isp_share[r, i]
                n_storage = 1 + int(share >= 0.15) + int(share >= 0.25)
                n_flash = int(share >= 0.15)
                for k in range(n_storage + n_flash):
                    ids.append(f"oca-{name}-{self.isp_names[i]}-{k + 1:02d}")
                    region.append(r)
                    isp.append(int(i))
                    kind.append(int(k >= n_storage))
                    site_of.append(site)
                self.embedded_site[r, i] = site
                site += 1
            n_storage, n_flash = 2 + 2 * int(region_big), 1 + int(region_big)
            for k in range(n_storage + n_flash):
                ids.append(f"oca-{name}-ixp-{k + 1:02d}")
                region.append(r)
                isp.append(-1)
                kind.append(int(k >= n_storage))
                site_of.append(site)
            self.ixp_site[r] = site
            site += 1
        n = len(ids)
        self.oca_ids: tuple[str, ...] = tuple(ids)
        self.oca_region = np.array(region, dtype=np.int8)
        self.oca_isp = np.array(isp, dtype=np.int16)
        self.oca_kind = np.array(kind, dtype=np.int8)  # 0 storage, 1 flash
        self.oca_site = np.array(site_of, dtype=np.int32)
        storage_tb = rng.choice([36, 72, 100, 120], size=n, p=[0.2, 0.35, 0.3, 0.15])
        flash_tb = rng.choice([2, 4, 8], size=n, p=[0.3, 0.5, 0.2])
        self.oca_capacity_bytes = np.where(self.oca_kind == 0, storage_tb, flash_tb).astype(np.int64) * _TB
        self.oca_fill_rate_bps = np.where(self.oca_kind == 0, 1.2e9, 0.3e9)
        ixp = self.oca_isp < 0
        self.oca_startup = (
            np.exp(rng.normal(0.0, 0.08, n))
            * np.where(ixp, 1.08, 1.0)
            * np.where(self.oca_kind == 1, 0.92, 1.0)
        )
        self.oca_rebuffer = np.exp(rng.normal(0.0, 0.15, n)) * np.where(ixp, 1.1, 1.0)
        # Per site: the storage and flash appliances, as offsets into index arrays.
        n_sites = site
        order = np.lexsort((np.arange(n), self.oca_site))
        storage = order[self.oca_kind[order] == 0]
        flash = order[self.oca_kind[order] == 1]
        self.site_storage = storage.astype(np.int32)
        self.site_flash = flash.astype(np.int32)
        self.site_storage_count = np.bincount(self.oca_site[storage], minlength=n_sites)
        self.site_flash_count = np.bincount(self.oca_site[flash], minlength=n_sites)
        self.site_storage_start = np.concatenate([[0], np.cumsum(self.site_storage_count)[:-1]])
        self.site_flash_start = np.concatenate([[0], np.cumsum(self.site_flash_count)[:-1]])

    # ----------------------------------------------------------- derived values

    def title_weights(self, at_ms: int) -> np.ndarray:
        """(regions × titles) relative request weight at a time: popularity × affinity × launch boost.

        Titles not yet released at `at_ms` weigh 0.
        """
        age = at_ms - self.title_release_ms
        launch = (
            self.title_launch_boost
            * self._launch_unit
            * np.exp(-np.maximum(age, 0) / self.title_launch_decay_ms)
        )
        weight = np.where(age >= 0, self.title_popularity + launch, 0.0)
        return (self.title_affinity * weight[:, None]).T

    def hot_titles(self, at_ms: int) -> np.ndarray:
        """Whether each title is on the flash tier at a time: the most popular, or launched recently."""
        age = at_ms - self.title_release_ms
        return self.title_always_hot | ((age >= 0) & (age < _HOT_RELEASE_DAYS * _DAY_MS))

    def dimension_values(self, dimension: str) -> tuple[str, ...]:
        """All values a slice dimension can take in this world."""
        values = {
            "region": self.region_names,
            "country": self.country_names,
            "isp": self.isp_names,
            "cdn": self.cdn_names,
            "oca_id": self.oca_ids,
            "device_type": self.device_type_names,
        }
        if dimension not in values:
            raise ValueError(f"unknown dimension {dimension!r}; choose from {tuple(values)}")
        return values[dimension]

    def code_of(self, dimension: str, value: str) -> int:
        """The integer code of a slice value; a clear error when the world has no such value."""
        values = self.dimension_values(dimension)
        try:
            return values.index(value)
        except ValueError:
            shown = ", ".join(values[:12]) + (", ..." if len(values) > 12 else "")
            raise ValueError(f"no {dimension} {value!r} in this world; known values: {shown}") from None

    def slice_shares(self, dimension: str) -> dict[str, float]:
        """Expected share of play requests per value of a dimension (from activity and routing)."""
        names = self.dimension_values(dimension)
        act = self.user_activity
        if dimension == "region":
            weights = np.bincount(self.user_region, act, len(names))
        elif dimension == "country":
            weights = np.bincount(self.user_country, act, len(names))
        elif dimension == "isp":
            weights = np.bincount(self.user_isp, act, len(names))
        elif dimension == "cdn":
            weights = self.cdn_share.copy()
        elif dimension == "device_type":
            slot = self.slot_share[self.user_devices - 1] * act[:, None]
            weights = np.bincount(self.user_device_type.ravel(), slot.ravel(), len(names))
        else:
            weights = self._oca_weights()
        return {name: float(w) for name, w in zip(names, weights / weights.sum(), strict=True)}

    def _oca_weights(self) -> np.ndarray:
        emb = self.embedded_site[self.user_region, self.user_isp]
        act = self.user_activity * self.config.oca_share
        p_emb = np.where(emb >= 0, OCA_EMBEDDED_SHARE, 0.0)
        site_w = np.bincount(np.where(emb >= 0, emb, 0), act * p_emb, len(self.site_storage_count))
        site_w += np.bincount(self.ixp_site[self.user_region], act * (1 - p_emb), len(site_w))
        hot_mass = self.title_popularity[self.title_always_hot].sum() / self.title_popularity.sum()
        flash = np.where(self.site_flash_count > 0, hot_mass * FLASH_SERVE_SHARE, 0.0)
        per_storage = site_w * (1 - flash) / np.maximum(self.site_storage_count, 1)
        per_flash = site_w * flash / np.maximum(self.site_flash_count, 1)
        return np.where(self.oca_kind == 0, per_storage[self.oca_site], per_flash[self.oca_site])

    # ------------------------------------------------------------------ tables

    @cached_property
    def users(self) -> pa.Table:
        """One row per member: home region, country, ISP, propensities and devices."""
        n = len(self.user_region)
        counts = self.user_devices.astype(np.int32)
        mask = np.arange(3)[None, :] < counts[:, None]
        dev_types = pa.array(self.device_type_names).take(self.user_device_type[mask].astype(np.int32))
        struct = pa.StructArray.from_arrays(
            [
                dev_types,
                pa.array(self.os_names).take(self.user_device_os[mask].astype(np.int32)),
                pa.array(self.app_version_names).take(self.user_device_app[mask].astype(np.int32)),
                pa.array(np.array(catalog.LADDER_KBPS, dtype=np.int32)[self.user_device_cap[mask]]),
            ],
            names=["type", "os", "app_version", "max_bitrate_kbps"],
        )
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        return pa.table(
            {
                "user_id": self.user_ids,
                "region": pa.array(self.region_names).take(self.user_region.astype(np.int32)),
                "country": pa.array(self.country_names).take(self.user_country.astype(np.int32)),
                "isp": pa.array(self.isp_names).take(self.user_isp.astype(np.int32)),
                "activity": self.user_activity,
                "watch_propensity": self.user_watch,
                "primary_device_type": dev_types.take(offsets[:-1][:n]),
                "devices": pa.ListArray.from_arrays(pa.array(offsets), struct),
            }
        )

    @cached_property
    def titles(self) -> pa.Table:
        """One row per title: kind, genre, duration, home region (null = global), popularity, release."""
        home = self.title_home_region.astype(np.int32)
        return pa.table(
            {
                "title_id": self.title_ids,
                "kind": pa.array(["movie", "episode"]).take(self.title_kind.astype(np.int32)),
                "genre": pa.array(self.genre_names).take(self.title_genre.astype(np.int32)),
                "duration_ms": self.title_duration_ms,
                "home_region": pa.array(self.region_names).take(pa.array(home, mask=home < 0)),
                "base_popularity": self.title_popularity,
                "popularity_rank": self.title_rank,
                "release_ms": self.title_release_ms,
                "launch_boost": self.title_launch_boost,
                "launch_decay_days": self.title_launch_decay_ms / _DAY_MS,
            }
        )

    @cached_property
    def title_affinity_table(self) -> pa.Table:
        """Regional affinity of every title (long form: title_id, region, affinity multiplier)."""
        t, r = self.title_affinity.shape
        return pa.table(
            {
                "title_id": self.title_ids.take(np.repeat(np.arange(t), r)),
                "region": pa.array(self.region_names).take(np.tile(np.arange(r), t)),
                "affinity": self.title_affinity.ravel(),
            }
        )

    @cached_property
    def release_calendar(self) -> pa.Table:
        """Titles launched in the 60 days before the range or inside it, by release time."""
        since = self.config.start_ms - _RECENT_DAYS * _DAY_MS
        idx = np.flatnonzero((self.title_release_ms >= since) & (self.title_release_ms < self.config.end_ms))
        idx = idx[np.argsort(self.title_release_ms[idx], kind="stable")]
        return pa.table(
            {
                "title_id": self.title_ids.take(idx),
                "release_ms": self.title_release_ms[idx],
                "kind": pa.array(["movie", "episode"]).take(self.title_kind[idx].astype(np.int32)),
                "genre": pa.array(self.genre_names).take(self.title_genre[idx].astype(np.int32)),
                "in_range": self.title_release_ms[idx] >= self.config.start_ms,
                "launch_boost": self.title_launch_boost[idx],
                "launch_decay_days": self.title_launch_decay_ms[idx] / _DAY_MS,
            }
        )

    @cached_property
    def ocas(self) -> pa.Table:
        """One row per appliance: region, ISP (null at IXP sites), site type, kind, capacity, fill rate."""
        isp = self.oca_isp.astype(np.int32)
        return pa.table(
            {
                "oca_id": pa.array(self.oca_ids),
                "region": pa.array(self.region_names).take(self.oca_region.astype(np.int32)),
                "isp": pa.array(self.isp_names).take(pa.array(isp, mask=isp < 0)),
                "site_type": pa.array(["isp_embedded", "ixp"]).take((isp < 0).astype(np.int32)),
                "kind": pa.array(["storage", "flash"]).take(self.oca_kind.astype(np.int32)),
                "capacity_bytes": self.oca_capacity_bytes,
                "fill_rate_bps": self.oca_fill_rate_bps,
            }
        )

    @cached_property
    def regions(self) -> pa.Table:
        """Regions with their fixed UTC offset, member share and countries."""
        return pa.table(
            {
                "region": list(self.region_names),
                "utc_offset_min": self.region_offset_min,
                "population_share": self.region_share,
                "countries": [[c for c, _ in r.countries] for r in catalog.REGIONS],
            }
        )

    @cached_property
    def isps(self) -> pa.Table:
        """ISPs per country with their market share and network quality factors."""
        codes = np.array([self.isp_names.index(i.name) for i in catalog.ISPS])
        return pa.table(
            {
                "country": [i.country for i in catalog.ISPS],
                "isp": [i.name for i in catalog.ISPS],
                "market_share": [i.share for i in catalog.ISPS],
                "startup_factor": self.isp_startup[codes],
                "rebuffer_factor": self.isp_rebuffer[codes],
                "throughput_kbps_median": self.isp_throughput_kbps[codes],
            }
        )

    @cached_property
    def cdns(self) -> pa.Table:
        """CDNs with their share of sessions."""
        return pa.table({"cdn": list(self.cdn_names), "share": self.cdn_share})

    def summary(self) -> dict[str, int]:
        """Sizes of the world, for the ground truth."""
        return {
            "users": len(self.user_region),
            "titles": len(self.title_kind),
            "titles_released_in_range": int(self.title_new_in_range.sum()),
            "ocas": len(self.oca_ids),
            "regions": len(self.region_names),
            "countries": len(self.country_names),
            "isps": len(self.isp_names),
        }
