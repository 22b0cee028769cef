"""The content catalogue and the edge appliances the fill plan works with.

Guarantees:

- A title's file set is every profile of the encoding ladder (DESIGN.md appendix: 240p 0.235 Mbps,
  360p 0.56, 480p 1.05, 720p 2.8 H.264, 1080p 5.8 HEVC, 4K HDR 15.6 AV1) for its whole duration:
  `size_bytes = duration_s × Σ ladder kbps × 1000 / 8`. An appliance stores or evicts a title's
  file set as one unit (a 2 h title is about 23.4 GB).
- An appliance's nightly fill budget is what its fill window (02:00–14:00 local, 12 h) carries at
  its fill rate: `fill_budget_bytes = fill_rate_bps × 43 200 s / 8` (6.48 TB for a 1.2 Gbps
  storage appliance, 1.62 TB for a 0.3 Gbps flash appliance).
- `Catalogue` holds two pandas frames, `titles` (title_id, kind, genre, duration_ms, release_ms,
  size_bytes) and `appliances` (oca_id, region, isp, site_type, kind, capacity_bytes,
  fill_rate_bps, fill_budget_bytes), validated on construction: bad reference data raises
  ValueError naming the column and what to fix.
- The catalogue is reference data beside the lake (`catalogue_dir(data_dir)` = `data_dir/reference`):
  `publish(directory, catalogue)` writes
  `titles.parquet` and `appliances.parquet` atomically; `load(directory)` reads them back
  (`playpulse simulate --to lake` publishes the simulated world's catalogue there).
- `Catalogue.scaled(f)` gives the same appliances with disk and fill rate multiplied by `f`, so the
  planner can be evaluated where disks are small against the catalogue (the simulated catalogue of
  1,500 titles, ~20 TB, fits on every storage appliance, as a real one does not).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.simulator.catalog import LADDER_KBPS
from ingest.simulator.world import World

__all__ = [
    "FILL_WINDOW_HOURS",
    "LADDER",
    "Catalogue",
    "EncodingProfile",
    "catalogue_dir",
    "fill_budget_bytes",
    "load",
    "publish",
    "title_size_bytes",
]


@dataclass(frozen=True)
class EncodingProfile:
    """One rung of the encoding ladder."""

    name: str
    kbps: int
    codec: str

    def bytes_for(self, duration_ms: np.ndarray | int) -> np.ndarray:
        """Bytes of this profile for titles of `duration_ms` (ms): duration × kbps / 8."""
        return np.asarray(duration_ms, dtype=np.int64) * self.kbps // 8


#: The ladder every title is encoded at (DESIGN.md appendix); the same kbps the players stream.
LADDER: tuple[EncodingProfile, ...] = tuple(
    EncodingProfile(name, kbps, codec)
    for (name, codec), kbps in zip(
        (
            ("240p", "H.264"),
            ("360p", "H.264"),
            ("480p", "H.264"),
            ("720p", "H.264"),
            ("1080p", "HEVC"),
            ("2160p HDR", "AV1"),
        ),
        LADDER_KBPS,
        strict=True,
    )
)
#: The nightly fill window, local hours [start, end).
FILL_WINDOW_HOURS: tuple[int, int] = (2, 14)

_TITLE_COLUMNS = ("title_id", "kind", "genre", "duration_ms", "release_ms", "size_bytes")
_APPLIANCE_COLUMNS = (
    "oca_id",
    "region",
    "isp",
    "site_type",
    "kind",
    "capacity_bytes",
    "fill_rate_bps",
    "fill_budget_bytes",
)


def title_size_bytes(
    duration_ms: np.ndarray | int, ladder: tuple[EncodingProfile, ...] = LADDER
) -> np.ndarray:
    """Bytes of a title's whole file set: every ladder profile for its whole duration."""
    return sum((p.bytes_for(duration_ms) for p in ladder), start=np.zeros_like(duration_ms, dtype=np.int64))


def fill_budget_bytes(fill_rate_bps: np.ndarray | float) -> np.ndarray:
    """Bytes one fill window carries at `fill_rate_bps` (bits per second)."""
    window_s = (FILL_WINDOW_HOURS[1] - FILL_WINDOW_HOURS[0]) * 3600
    return np.floor(np.asarray(fill_rate_bps, dtype=np.float64) * window_s / 8).astype(np.int64)


@dataclass(frozen=True)
class Catalogue:
    """Titles with their file sizes and release times; appliances with disk and fill budget."""

    titles: pd.DataFrame
    appliances: pd.DataFrame

    def __post_init__(self) -> None:
        _require_columns("titles", self.titles, _TITLE_COLUMNS)
        _require_columns("appliances", self.appliances, _APPLIANCE_COLUMNS)
        if self.titles["title_id"].duplicated().any():
            dup = self.titles.loc[self.titles["title_id"].duplicated(), "title_id"].iloc[0]
            raise ValueError(f"catalogue titles: title_id {dup!r} appears twice; one row per title")
        if self.appliances["oca_id"].duplicated().any():
            dup = self.appliances.loc[self.appliances["oca_id"].duplicated(), "oca_id"].iloc[0]
            raise ValueError(f"catalogue appliances: oca_id {dup!r} appears twice; one row per appliance")
        if (self.titles["size_bytes"] <= 0).any():
            bad = self.titles.loc[self.titles["size_bytes"] <= 0, "title_id"].iloc[0]
            raise ValueError(f"catalogue titles: {bad!r} has size_bytes <= 0; give its duration_ms")
        for column in ("capacity_bytes", "fill_budget_bytes"):
            if (self.appliances[column] < 0).any():
                bad = self.appliances.loc[self.appliances[column] < 0, "oca_id"].iloc[0]
                raise ValueError(f"catalogue appliances: {bad!r} has negative {column}")

    @classmethod
    def from_world(cls, world: World) -> Catalogue:
        """The catalogue of a simulated world: its titles, release calendar and appliances."""
        titles = world.titles.select(["title_id", "kind", "genre", "duration_ms", "release_ms"]).to_pandas()
        titles["size_bytes"] = title_size_bytes(titles["duration_ms"].to_numpy())
        ocas = world.ocas.to_pandas()
        ocas["capacity_bytes"] = ocas["capacity_bytes"].astype(np.int64)
        ocas["fill_budget_bytes"] = fill_budget_bytes(ocas["fill_rate_bps"].to_numpy())
        return cls(titles.reset_index(drop=True), ocas[list(_APPLIANCE_COLUMNS)].reset_index(drop=True))

    def scaled(self, factor: float) -> Catalogue:
        """The same catalogue with every appliance's disk and fill rate multiplied by `factor`."""
        if not 0 < factor <= 1_000:
            raise ValueError(f"disk scale must be in (0, 1000], got {factor}")
        appliances = self.appliances.copy()
        appliances["capacity_bytes"] = np.floor(appliances["capacity_bytes"] * factor).astype(np.int64)
        appliances["fill_rate_bps"] = appliances["fill_rate_bps"] * factor
        appliances["fill_budget_bytes"] = fill_budget_bytes(appliances["fill_rate_bps"].to_numpy())
        return Catalogue(self.titles, appliances)

    def releases_between(self, start_ms: int, end_ms: int) -> pd.DataFrame:
        """Titles released in [start_ms, end_ms), by release time."""
        t = self.titles
        return t[(t["release_ms"] >= start_ms) & (t["release_ms"] < end_ms)].sort_values("release_ms")

    @property
    def sizes(self) -> dict[str, int]:
        """File-set bytes per title id."""
        return dict(zip(self.titles["title_id"].astype(str), self.titles["size_bytes"], strict=True))

    @property
    def catalogue_bytes(self) -> int:
        return int(self.titles["size_bytes"].sum())


def catalogue_dir(data_dir: str | os.PathLike[str]) -> Path:
    """Where the catalogue lives under a data directory: `data_dir/reference/`."""
    return Path(data_dir) / "reference"


def publish(directory: str | os.PathLike[str], catalogue: Catalogue) -> Path:
    """Write the catalogue as `titles.parquet` and `appliances.parquet` under `directory`, atomically."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for name, frame in (("titles", catalogue.titles), ("appliances", catalogue.appliances)):
        tmp = root / f".{name}.parquet.tmp"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(root / f"{name}.parquet")
    return root


def load(directory: str | os.PathLike[str]) -> Catalogue:
    """The catalogue published under `directory`; a clear error when there is none."""
    root = Path(directory)
    paths = {name: root / f"{name}.parquet" for name in ("titles", "appliances")}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"no catalogue at {root} (missing {', '.join(missing)}): `playpulse simulate --to lake` "
            "publishes the simulated world's titles and appliances there, or write them with "
            "batch.catalogue.publish"
        )
    try:
        frames = {name: pq.read_table(path).to_pandas() for name, path in paths.items()}
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValueError(f"catalogue at {root} is unreadable: {exc}; publish it again") from exc
    return Catalogue(frames["titles"], frames["appliances"])


def _require_columns(name: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"catalogue {name} lacks column(s) {', '.join(missing)}; expected {', '.join(columns)}"
        )
