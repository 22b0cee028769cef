"""From a regional demand forecast to the bytes each edge appliance is predicted to serve per title.

Pure (pandas in, pandas out). The forecast is watch hours per title × region × day; an appliance
serves only the part of its region's viewing that is routed to it (its ISP's members, its tier:
flash appliances take most plays of the hottest titles) and streams it at the bitrates its
viewers get. Both are measured on the recent traffic of the appliances (sessions with an
`oca_id`):

- `bytes_per_hour(o)` = Σ bytes ÷ Σ watch hours the appliance served (bytes = playing time ×
  bitrate); the region's mean where the appliance served nothing yet.
- `share(o, t)` = (hours(o, t) + k · prior(o, class(t))) ÷ (hours(region, t) + k): the share of the
  title's regional watch hours the appliance served, shrunk with a pseudo-count of k hours towards
  the appliance's share of all titles of the same class — `new` (released in the last 14 days) or
  `catalogue` — so a title with little history, or a release due tomorrow with none, gets the
  appliance's typical share of its class.

`demand_bytes(o, t) = forecast_hours(region(o), t) × share(o, t) × bytes_per_hour(o)`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["NEW_RELEASE_DAYS", "appliance_demand"]

#: A title counts as a new release (its own routing class) for this many days after release.
NEW_RELEASE_DAYS = 14
_HOUR_MS = 3_600_000


def appliance_demand(
    forecast: pd.DataFrame,
    traffic: pd.DataFrame,
    regional_hours: pd.DataFrame,
    appliances: pd.DataFrame,
    releases: Mapping[str, dt.date],
    day: dt.date,
    pseudo_hours: float = 2.0,
) -> pd.DataFrame:
    """Predicted bytes per (oca_id, title_id) for `day`.

    - `forecast`: title_id, region, forecast_hours (for `day`);
    - `traffic`: oca_id, title_id, hours, bytes — what each appliance served over the recent days;
    - `regional_hours`: title_id, region, hours — all viewing over the same days (any CDN);
    - `appliances`: oca_id, region;
    - `releases`: release date per title (titles absent count as catalogue).

    Returns oca_id, region, title_id, demand_bytes, share, bytes_per_hour (rows with demand > 0).
    """
    for name, frame, columns in (
        ("forecast", forecast, ("title_id", "region", "forecast_hours")),
        ("traffic", traffic, ("oca_id", "title_id", "hours", "bytes")),
        ("regional_hours", regional_hours, ("title_id", "region", "hours")),
        ("appliances", appliances, ("oca_id", "region")),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"appliance demand: {name} lacks column(s) {', '.join(missing)}")
    apps = appliances[["oca_id", "region"]].drop_duplicates("oca_id")
    served = traffic.merge(apps, on="oca_id", how="inner")

    def is_new(titles: pd.Series) -> np.ndarray:
        first = day - dt.timedelta(days=NEW_RELEASE_DAYS)
        return np.array([first <= releases.get(t, dt.date.min) <= day for t in titles], dtype=bool)

    # Bitrate of each appliance's viewers (bytes per watch hour); the region's where it served nothing.
    per_app = served.groupby("oca_id")[["hours", "bytes"]].sum()
    per_region = served.groupby("region")[["hours", "bytes"]].sum()
    region_bph = (per_region["bytes"] / per_region["hours"]).replace([np.inf, -np.inf], np.nan)
    global_bph = served["bytes"].sum() / served["hours"].sum() if served["hours"].sum() > 0 else 0.0
    apps = apps.assign(
        bytes_per_hour=apps["oca_id"].map(per_app["bytes"] / per_app["hours"].where(per_app["hours"] > 0))
    )
    apps["bytes_per_hour"] = (
        apps["bytes_per_hour"].fillna(apps["region"].map(region_bph)).fillna(global_bph).astype(float)
    )

    # Class priors: the appliance's share of its region's watch hours of new and of catalogue titles.
    regional = regional_hours.assign(new=is_new(regional_hours["title_id"]))
    class_total = regional.groupby(["region", "new"])["hours"].sum()
    served = served.assign(new=is_new(served["title_id"]))
    class_served = served.groupby(["oca_id", "region", "new"])["hours"].sum().reset_index()
    class_served["prior"] = class_served["hours"] / [
        class_total.get((r, n), np.nan)
        for r, n in zip(class_served["region"], class_served["new"], strict=True)
    ]
    priors = class_served.set_index(["oca_id", "new"])["prior"].fillna(0.0)

    # Every appliance × every title forecast in its region.
    candidates = apps.merge(forecast[["title_id", "region", "forecast_hours"]], on="region", how="inner")
    candidates["new"] = is_new(candidates["title_id"])
    own = served.groupby(["oca_id", "title_id"])["hours"].sum().rename("own_hours")
    total = regional.groupby(["region", "title_id"])["hours"].sum().rename("region_hours")
    candidates = candidates.join(own, on=["oca_id", "title_id"]).join(total, on=["region", "title_id"])
    candidates[["own_hours", "region_hours"]] = candidates[["own_hours", "region_hours"]].fillna(0.0)
    prior = np.array(
        [priors.get((o, n), 0.0) for o, n in zip(candidates["oca_id"], candidates["new"], strict=True)]
    )
    candidates["share"] = (candidates["own_hours"] + pseudo_hours * prior) / (
        candidates["region_hours"] + pseudo_hours
    )
    candidates["demand_bytes"] = (
        candidates["forecast_hours"].clip(lower=0) * candidates["share"] * candidates["bytes_per_hour"]
    )
    out = candidates[candidates["demand_bytes"] > 0]
    return out[["oca_id", "region", "title_id", "demand_bytes", "share", "bytes_per_hour"]].reset_index(
        drop=True
    )
