"""Play requests of one time chunk and how each one starts, as arrays (one entry per session).

Guarantees for `draw_sessions(model, chunk_index, rng)`:

- Requests per region and minute are Poisson with mean Σ activity × sessions/member/day / 1440 ×
  `demand_shape(local time)` (× the experiments' play-rate bound, then thinned by each session's
  `watch_time` effect), so counts follow the diurnal and weekly curve with Poisson noise; each
  request picks a member of the region by activity, one of the member's devices, a title by
  regional popularity at the chunk start (unreleased titles excluded), a CDN and, on the own CDN,
  an appliance of the member's ISP site (or the region's IXP site; flash for hot titles).
- Sessions of members lost to an injected SRM are dropped here (their request times are kept in
  `lost_request_ms` for the stats).
- Start-up time is lognormal around a median set by device × ISP × region × CDN/appliance × evening
  load × experiment × incident, with a 3% slow tail. Each request then ends one of three ways:
  a fatal error before first frame (START_FAILURE), an exit before first frame (EBVS: patience,
  lognormal with a 12 s median, ran out, or the member changed their mind), or a start.
- The result depends only on (seed, chunk): the same chunk is drawn identically in every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import catalog
from .ids import uuid4_bytes
from .model import Model
from .seasonality import demand_shape, load_factor
from .world import FLASH_SERVE_SHARE, OCA_EMBEDDED_SHARE

__all__ = ["OUTCOME_EBVS", "OUTCOME_START_FAILURE", "OUTCOME_STARTED", "Sessions", "draw_sessions"]

OUTCOME_STARTED, OUTCOME_EBVS, OUTCOME_START_FAILURE = 0, 1, 2
_MINUTE_MS = 60_000
_SLOW_TAIL = 0.03
_STARTUP_SIGMA = 0.45
_PATIENCE_MEDIAN_MS = 12_000.0
_PATIENCE_SIGMA = 1.0
_FICKLE = 0.012  # changed their mind before the first frame, whatever the start-up time


@dataclass
class Sessions:
    """One chunk's sessions, ordered by request time. Codes index the world's name tuples."""

    chunk_index: int
    request_ms: np.ndarray  # int64
    uuid: np.ndarray  # (n, 16) uint8
    user: np.ndarray  # int32
    region: np.ndarray
    country: np.ndarray
    isp: np.ndarray
    device_type: np.ndarray
    device_os: np.ndarray
    app_version: np.ndarray
    bitrate_cap: np.ndarray  # highest ladder rung
    title: np.ndarray
    duration_ms: np.ndarray
    cdn: np.ndarray
    oca: np.ndarray  # -1 when not served by an OCA
    allocation: np.ndarray  # allocation code (experiments map)
    cells: np.ndarray  # (n, tests) cell index or -1
    load: np.ndarray  # local network load at request, in (0, 1]
    startup_ms: np.ndarray  # time to first frame, had it started
    outcome: np.ndarray  # OUTCOME_*
    end_after_ms: np.ndarray  # request → PLAY_END for sessions that did not start
    error_code: np.ndarray  # start-failure error code, -1 otherwise
    lost_request_ms: np.ndarray  # request times of sessions dropped by an SRM

    def __len__(self) -> int:
        return len(self.request_ms)

    def dims(self) -> dict[str, np.ndarray]:
        """Slice dimension → code per session, as incidents target them."""
        return {
            "oca_id": self.oca,
            "isp": self.isp,
            "region": self.region,
            "cdn": self.cdn,
            "country": self.country,
            "device_type": self.device_type,
        }


def _choice(
    rng: np.random.Generator, pairs: tuple[tuple[str, float], ...], names: tuple[str, ...], n: int
) -> np.ndarray:
    codes = np.array([names.index(name) for name, _ in pairs], dtype=np.int16)
    weights = np.array([w for _, w in pairs])
    return codes[rng.choice(len(codes), size=n, p=weights / weights.sum())]


def draw_sessions(model: Model, chunk_index: int, rng: np.random.Generator) -> Sessions:
    """Draw the sessions requested in chunk `chunk_index` (times [i × chunk_ms, (i + 1) × chunk_ms))."""
    world, cfg = model.world, model.config
    chunk_ms = cfg.chunk_ms
    chunk_start = chunk_index * chunk_ms
    n_regions = len(world.region_names)
    minutes = chunk_ms // _MINUTE_MS

    # Requests: Poisson per (region, minute), at a uniform millisecond inside the minute.
    minute_ts = chunk_start + np.arange(minutes, dtype=np.int64) * _MINUTE_MS
    local = minute_ts[None, :] + world.region_offset_min[:, None] * _MINUTE_MS
    counts = rng.poisson(model.region_rate_per_min[:, None] * demand_shape(local)).ravel()
    n = int(counts.sum())
    region = np.repeat(np.repeat(np.arange(n_regions, dtype=np.int8), minutes), counts)
    minute = np.repeat(np.tile(np.arange(minutes, dtype=np.int64), n_regions), counts)
    request = chunk_start + minute * _MINUTE_MS + rng.integers(0, _MINUTE_MS, n)
    user = model.pick_users(region, rng.random(n))
    order = np.argsort(request, kind="stable")
    region, request, user = region[order], request[order], user[order]

    # Experiments: thin to each allocation's play rate, drop sessions lost to an SRM.
    cells = model.cells_at(user, request)
    keep = rng.random(n) * model.watch_bound < model.effect("watch_time", cells)
    lost = model.lost_to_srm(user, cells)
    lost_request = request[keep & lost]
    keep &= ~lost
    region, request, user, cells = region[keep], request[keep], user[keep], cells[keep]
    n = len(request)

    uuid = uuid4_bytes(rng, n)
    country = world.user_country[user]
    isp = world.user_isp[user]
    # One of the member's devices: the first most often.
    devices = world.user_devices[user].astype(np.int64)
    share = world.slot_share[devices - 1]
    u = rng.random(n)
    slot = np.minimum((u >= share[:, 0]).astype(np.int64) + (u >= share[:, 0] + share[:, 1]), devices - 1)
    device_type = world.user_device_type[user, slot]
    device_os = world.user_device_os[user, slot]
    app_version = world.user_device_app[user, slot]
    bitrate_cap = world.user_device_cap[user, slot]

    # Title: regional popularity at the chunk start.
    weights = world.title_weights(chunk_start)
    n_titles = weights.shape[1]
    cdf = np.cumsum(weights, axis=1)
    cdf = cdf / np.where(cdf[:, -1:] > 0, cdf[:, -1:], 1.0) + np.arange(n_regions)[:, None]
    title = (
        np.searchsorted(cdf.ravel(), region + rng.random(n), side="right")
        - region.astype(np.int64) * n_titles
    )
    title = np.clip(title, 0, n_titles - 1).astype(np.int32)

    # Delivery: CDN, then site and appliance on the own CDN.
    cdn = np.minimum(
        np.searchsorted(np.cumsum(world.cdn_share), rng.random(n), side="right"), len(world.cdn_share) - 1
    )
    cdn = cdn.astype(np.int8)
    embedded = world.embedded_site[region, isp]
    site = np.where((embedded >= 0) & (rng.random(n) < OCA_EMBEDDED_SHARE), embedded, world.ixp_site[region])
    n_flash = world.site_flash_count[site]
    flash = world.hot_titles(chunk_start)[title] & (n_flash > 0) & (rng.random(n) < FLASH_SERVE_SHARE)
    pick = rng.random(n)
    flash_idx = world.site_flash_start[site] + np.minimum(
        (pick * n_flash).astype(np.int64), np.maximum(n_flash - 1, 0)
    )
    n_storage = world.site_storage_count[site]
    storage_idx = world.site_storage_start[site] + np.minimum(
        (pick * n_storage).astype(np.int64), n_storage - 1
    )
    appliance = np.where(
        flash,
        world.site_flash.take(flash_idx, mode="clip"),
        world.site_storage.take(storage_idx, mode="clip"),
    )
    oca = np.where(cdn == 0, appliance, -1).astype(np.int32)

    load = load_factor(request + world.region_offset_min[region] * _MINUTE_MS)
    dims = {
        "oca_id": oca,
        "isp": isp,
        "region": region,
        "cdn": cdn,
        "country": country,
        "device_type": device_type,
    }

    # Start-up time.
    delivery = np.where(cdn == 0, world.oca_startup[np.maximum(oca, 0)], world.cdn_startup[cdn])
    median = (
        world.device_startup_ms[device_type]
        * world.isp_startup[isp]
        * world.region_startup[region]
        * delivery
        * (1.0 + 0.12 * load)
        * model.effect("startup", cells)
        * cfg.startup_scale
    )
    slow = np.where(rng.random(n) < _SLOW_TAIL, rng.uniform(2.0, 5.0, n), 1.0)
    startup = median * np.exp(_STARTUP_SIGMA * rng.standard_normal(n)) * slow
    p_fail = (
        cfg.start_failure_rate
        * world.device_start_failure[device_type]
        * model.effect("start_failure", cells)
    )
    for inc in model.incidents_between(chunk_start, chunk_start + chunk_ms, "startup"):
        hit = inc.matches(dims) & (request >= inc.incident.start_ms) & (request < inc.incident.end_ms)
        startup = np.where(hit, startup * inc.incident.magnitude, startup)
    for inc in model.incidents_between(chunk_start, chunk_start + chunk_ms, "errors"):
        hit = inc.matches(dims) & (request >= inc.incident.start_ms) & (request < inc.incident.end_ms)
        p_fail = np.where(hit, p_fail + inc.incident.magnitude, p_fail)
    startup = np.clip(np.round(startup), 100, 120_000).astype(np.int64)

    # How the request ends: start failure, exit before start, or a start.
    fail = rng.random(n) < p_fail
    fail_at = startup * rng.uniform(0.25, 0.98, n)
    patience = _PATIENCE_MEDIAN_MS * np.exp(_PATIENCE_SIGMA * rng.standard_normal(n))
    fickle = rng.random(n) < _FICKLE
    exit_at = np.where(fickle, startup * rng.uniform(0.05, 0.98, n), patience)
    start_failure = fail & (fail_at <= exit_at)
    ebvs = ~start_failure & (exit_at < startup)
    outcome = np.where(start_failure, OUTCOME_START_FAILURE, np.where(ebvs, OUTCOME_EBVS, OUTCOME_STARTED))
    end_after = np.where(start_failure, fail_at, np.where(ebvs, exit_at, 0.0))
    end_after = np.clip(np.floor(end_after), 1, startup - 1).astype(np.int64)
    codes = _choice(rng, catalog.ERROR_CODES["start_failure"], catalog.ERROR_CODE_NAMES, n)
    error_code = np.where(start_failure, codes, -1).astype(np.int16)

    return Sessions(
        chunk_index=chunk_index,
        request_ms=request,
        uuid=uuid,
        user=user.astype(np.int32),
        region=region,
        country=country,
        isp=isp,
        device_type=device_type,
        device_os=device_os,
        app_version=app_version,
        bitrate_cap=bitrate_cap,
        title=title,
        duration_ms=world.title_duration_ms[title],
        cdn=cdn,
        oca=oca,
        allocation=model.allocations.encode(cells),
        cells=cells,
        load=load,
        startup_ms=startup,
        outcome=outcome.astype(np.int8),
        end_after_ms=end_after,
        error_code=error_code,
        lost_request_ms=lost_request,
    )
