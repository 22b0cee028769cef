"""Alert rules from a versioned TOML file, validated on load with errors that name what to fix.

```toml
version = 1                      # the file format; this code reads version 1

[defaults]                       # optional: any rule field, applied where a rule does not set it
min_volume = 25

[[rules]]
name = "vst_p95_slo"             # unique, lower_snake_case
kind = "threshold"               # static SLO threshold
metric = "vst_p95_ms"            # see alerts.metrics.METRICS
above = 4000                     # fires above this (display unit: ms, fraction, %)
resolve_below = 3500             # hysteresis: resolves only below this

[[rules]]
name = "vst_p95_anomaly"
kind = "anomaly"                 # against a learned baseline of the same slice
metric = "vst_p95_ms"
detector = "des"                 # "des" (double exponential smoothing) or "seasonal"
z = 5                            # fires at this many standard errors above the baseline…
min_ratio = 1.4                  # …and at least this multiple of it
```

Every rule has `severity`, `slices` (slice names to watch, e.g. `["all", "oca_id",
"region,device_type"]`; default every slice of qoe.minute), `min_volume` (in the metric's volume
unit: attempts, starts or concurrent plays), `for_windows` (consecutive breaching windows before
it fires), `resolve_windows` (consecutive clear windows before it resolves), `stale_windows`
(windows without data after which an open alert resolves) and `rollup` (group the slices one
root cause touches into one alert). `load_rules` raises `RulesError` listing every problem with
its place in the file (`rules[2] (vst_p95_slo).above: …`).
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.frames import check_dimensions
from alerts.metrics import METRICS

__all__ = [
    "AnomalyRule",
    "FORMAT_VERSION",
    "Rule",
    "RuleSet",
    "RulesError",
    "ThresholdRule",
    "default_rules_path",
    "load_rules",
    "parse_rules",
]

FORMAT_VERSION = 1
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class RulesError(ValueError):
    """The rules file is unreadable or invalid; the message lists each problem and where it is."""


class _RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    metric: str
    severity: Literal["critical", "warning", "info"] = "warning"
    description: str = ""
    slices: tuple[str, ...] | None = None
    min_volume: float = Field(default=25.0, ge=0)
    for_windows: int = Field(default=2, ge=1, le=60)
    resolve_windows: int = Field(default=3, ge=1, le=240)
    stale_windows: int = Field(default=10, ge=1)
    rollup: bool = True

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"rule name {value!r} must be lower_snake_case (a-z, 0-9, _), starting with a letter"
            )
        return value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; choose from {', '.join(METRICS)}")
        return value

    @field_validator("slices")
    @classmethod
    def _known_slices(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            check_dimensions(value)
        return value

    def watches(self, dimension: str) -> bool:
        return self.slices is None or dimension in self.slices


class ThresholdRule(_RuleBase):
    """A static SLO: breaching while the value is above `above`, clear below `resolve_below`."""

    kind: Literal["threshold"]
    above: float
    resolve_below: float | None = None

    @model_validator(mode="after")
    def _hysteresis(self) -> ThresholdRule:
        if self.resolve_below is not None and self.resolve_below > self.above:
            raise ValueError(f"resolve_below ({self.resolve_below}) must not be above `above` ({self.above})")
        return self

    @property
    def clear_below(self) -> float:
        return self.above if self.resolve_below is None else self.resolve_below


class AnomalyRule(_RuleBase):
    """Breaching while the value is `z` standard errors and `min_ratio` times above the baseline."""

    kind: Literal["anomaly"]
    detector: Literal["des", "seasonal"] = "des"
    z: float = Field(default=5.0, gt=0)
    resolve_z: float = Field(default=2.0, ge=0)
    min_ratio: float = Field(default=1.5, ge=1.0)
    resolve_ratio: float | None = Field(default=None, ge=1.0)
    #: Smallest absolute rise (display unit) that counts; e.g. 0.5 (percentage points) for *_pct.
    min_delta: float = Field(default=0.0, ge=0)
    #: For proportions: fewest events (failures, exits) in a window that can breach.
    min_count: int = Field(default=3, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    beta: float = Field(default=0.002, ge=0, lt=1)
    training_windows: int = Field(default=15, ge=2)
    #: For `detector = "seasonal"`: days of history kept per minute-of-day bucket.
    season_days: int = Field(default=7, ge=1, le=28)

    @model_validator(mode="after")
    def _hysteresis(self) -> AnomalyRule:
        if self.resolve_z > self.z:
            raise ValueError(f"resolve_z ({self.resolve_z}) must not be above z ({self.z})")
        if self.resolve_ratio is not None and self.resolve_ratio > self.min_ratio:
            raise ValueError(
                f"resolve_ratio ({self.resolve_ratio}) must not be above min_ratio ({self.min_ratio})"
            )
        return self

    @property
    def clear_ratio(self) -> float:
        return 1.0 + (self.min_ratio - 1.0) / 2 if self.resolve_ratio is None else self.resolve_ratio


Rule = Annotated[ThresholdRule | AnomalyRule, Field(discriminator="kind")]


class RuleSet(BaseModel):
    """A validated rules file: its format version and its rules, in file order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    rules: tuple[Rule, ...]
    source: str = "<memory>"

    @field_validator("version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value != FORMAT_VERSION:
            raise ValueError(
                f"this playpulse reads rules format version {FORMAT_VERSION}, the file says {value}"
            )
        return value

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(duplicates)}")
        if not self.rules:
            raise ValueError("the file defines no [[rules]]")
        return self

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(f"no rule named {name!r}; rules: {', '.join(r.name for r in self.rules)}")


def default_rules_path() -> Path:
    """The rules file shipped with playpulse (`alerts/rules.toml`)."""
    return Path(str(resources.files("alerts").joinpath("rules.toml")))


def _place(loc: tuple[Any, ...], document: dict[str, Any]) -> str:
    parts: list[str] = []
    rules = document.get("rules") if isinstance(document.get("rules"), list) else []
    for i, item in enumerate(loc):
        if isinstance(item, int) and i > 0 and loc[i - 1] == "rules":
            name = rules[item].get("name") if item < len(rules) and isinstance(rules[item], dict) else None
            parts[-1] = f"rules[{item}]" + (f" ({name})" if name else "")
        elif item in ("threshold", "anomaly") and i > 0 and isinstance(loc[i - 1], int):
            continue  # the discriminated-union branch, implied by the rule's kind
        else:
            parts.append(str(item))
    return ".".join(parts) or "(file)"


def parse_rules(document: dict[str, Any], source: str = "<memory>") -> RuleSet:
    """Validate a parsed rules document; `[defaults]` fill fields the rules leave out."""
    if not isinstance(document, dict):
        raise RulesError(f"rules file {source}: expected a TOML table at the top level")
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        raise RulesError(f"rules file {source}: [defaults] must be a table")
    rules = document.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise RulesError(f"rules file {source}: rules must be an array of tables, written [[rules]]")
    known = set(ThresholdRule.model_fields) | set(AnomalyRule.model_fields)
    unknown = sorted(set(defaults) - known - {"kind"})
    if unknown:
        raise RulesError(
            f"rules file {source} is invalid:\n  defaults: unknown field(s) {', '.join(unknown)}; "
            f"rule fields are {', '.join(sorted(known))}"
        )
    merged_rules = []
    for rule in rules:
        kind = rule.get("kind")
        allowed = (ThresholdRule if kind == "threshold" else AnomalyRule).model_fields
        # A default applies only where the rule's kind has that field (e.g. `z` only to anomalies).
        merged_rules.append({**{k: v for k, v in defaults.items() if k in allowed}, **rule})
    body = {k: v for k, v in document.items() if k != "defaults"}
    body["rules"] = merged_rules
    body["source"] = source
    if "version" not in body:
        raise RulesError(f"rules file {source}: missing `version = {FORMAT_VERSION}` at the top")
    try:
        return RuleSet.model_validate(body)
    except ValidationError as exc:
        problems = [f"  {_place(tuple(e['loc']), body)}: {e['msg']}" for e in exc.errors()]
        raise RulesError(f"rules file {source} is invalid:\n" + "\n".join(problems)) from exc


def load_rules(path: Path | str | None = None) -> RuleSet:
    """Read and validate a rules file (default: the shipped `alerts/rules.toml`)."""
    target = Path(path) if path is not None else default_rules_path()
    try:
        document = tomllib.loads(target.read_text())
    except FileNotFoundError as exc:
        raise RulesError(
            f"rules file {target} does not exist; set alerts.rules_file to a TOML rules file"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"rules file {target} is not valid TOML: {exc}") from exc
    return parse_rules(document, str(target))
