"""The simulator's expected play requests per appliance and title: the means its requests are drawn with.

Ground truth for scoring fill plans. `draw_sessions` draws requests per region and minute as
Poisson counts and gives each request, independently, a member (by activity), a title (by the
region's popularity at the chunk start), a CDN and, on the own CDN, a site and an appliance. By
Poisson thinning, the requests of one title on one appliance over a day are therefore Poisson with
mean

    λ(o, t) = Σ_chunks Σ_minutes rate(r) · demand_shape(local minute) · kept(r → s) · share(own CDN)
              · P(t | r, chunk) · tier(o, t, chunk)

where r and s are the appliance's region and site and kept(r → s) is the activity-weighted share of
the region's requests whose member is routed to that site (80% to an ISP's embedded site where it
has one, the rest to the region's IXP site) and kept by the A/B tests running then (a member plays
at their cells' watch-time effect ÷ the model's bound; members lost to an injected sample-ratio
mismatch are dropped). tier(o, t) splits a site's requests between its storage and flash
appliances as `draw_sessions` does: hot titles go to flash with probability 0.6 when the site has
flash, and each tier's appliances share evenly. Counts of different (o, t) are independent. The
means count requests; a share of them, the same for every title, fails to start.

`expected_requests(model, start_ms, end_ms)` returns the (appliances × titles) matrix of λ in the
order of `world.oca_ids` and `world.title_ids`.
"""

from __future__ import annotations

import numpy as np

from .model import Model
from .seasonality import demand_shape
from .world import FLASH_SERVE_SHARE, OCA_EMBEDDED_SHARE

__all__ = ["expected_requests"]

_MINUTE_MS = 60_000


def expected_requests(model: Model, start_ms: int, end_ms: int) -> np.ndarray:
    """λ(o, t): the expected play requests of title t on appliance o over [start_ms, end_ms)."""
    if end_ms <= start_ms:
        raise ValueError(f"empty range: end_ms {end_ms} must be after start_ms {start_ms}")
    world, config = model.world, model.config
    chunk_ms = config.chunk_ms
    region = world.oca_region.astype(np.int64)
    site = world.oca_site.astype(np.int64)
    flash = world.oca_kind == 1
    has_flash = world.site_flash_count[site] > 0
    tier_count = np.maximum(np.where(flash, world.site_flash_count[site], world.site_storage_count[site]), 1)
    out = np.zeros((len(world.oca_ids), len(world.title_ids)))
    for chunk in range(start_ms // chunk_ms, -(-end_ms // chunk_ms)):
        chunk_start = chunk * chunk_ms
        minutes = np.arange(max(chunk_start, start_ms), min(chunk_start + chunk_ms, end_ms), _MINUTE_MS)
        local = minutes[None, :] + world.region_offset_min[:, None] * _MINUTE_MS
        requests = model.region_rate_per_min * demand_shape(local).sum(axis=1)  # per region
        kept = _kept_by_site(model, chunk_start)  # regions × sites
        per_appliance = requests[region] * kept[region, site] * world.cdn_share[0] / tier_count
        weights = world.title_weights(chunk_start)  # regions × titles
        totals = weights.sum(axis=1, keepdims=True)
        p_title = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
        to_flash = FLASH_SERVE_SHARE * world.hot_titles(chunk_start)[None, :] * has_flash[:, None]
        tier = np.where(flash[:, None], to_flash, 1.0 - to_flash)
        out += per_appliance[:, None] * p_title[region] * tier
    return out


def _kept_by_site(model: Model, at_ms: int) -> np.ndarray:
    """(regions × sites): share of a region's drawn requests kept by the tests and routed to each site."""
    world = model.world
    n_users = len(world.user_region)
    users = np.arange(n_users)
    cells = model.cells_at(users, np.full(n_users, at_ms, dtype=np.int64))
    keep = model.effect("watch_time", cells) / model.watch_bound * ~model.lost_to_srm(users, cells)
    embedded = world.embedded_site[world.user_region, world.user_isp]
    to_embedded = np.where(embedded >= 0, OCA_EMBEDDED_SHARE, 0.0)
    region = world.user_region.astype(np.int64)
    activity = world.user_activity
    share = np.zeros((len(world.region_names), len(world.site_storage_count)))
    np.add.at(share, (region, np.where(embedded >= 0, embedded, 0)), activity * keep * to_embedded)
    np.add.at(share, (region, world.ixp_site[region]), activity * keep * (1.0 - to_embedded))
    totals = np.bincount(region, activity, len(world.region_names))[:, None]
    return np.divide(share, totals, out=np.zeros_like(share), where=totals > 0)
