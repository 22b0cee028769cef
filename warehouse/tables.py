"""Declarative specs of every warehouse table: columns, types, key, partitioning and analyst docs.

These specs are the single source of the warehouse DDL (DuckDB and ClickHouse), of the data
dictionary (`docs/data-dictionary.md`) and of the Arrow schema every write is cast to.
Guarantees, checked when a spec is built:

- every table and every column carries a comment written for analysts, with units;
- key columns exist and are NOT NULL; the partition column is part of the key, so a
  ReplacingMergeTree never keeps two versions of one key in two partitions;
- `STRING_MAP` and array columns are NOT NULL (ClickHouse cannot make a Map or an Array nullable).

`events` is derived from `schemas.events.EVENT_SCHEMA` and the field docs of the Avro
`PlaybackEvent` schema, so a new event field appears here (and in the dictionary test) by itself.

Conventions for analysts: all times are UTC; `*_ms` columns are milliseconds, `*_bytes` bytes,
`*_kbps` kilobits per second; ratios are fractions 0–1 unless the column name ends in `_pct`.
In `qoe_minute` a dimension column holding `'*'` means "all values" (the row is not sliced by it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from schemas.events import EVENT_SCHEMA, playback_event_schema
from warehouse.logical_types import LogicalType

__all__ = [
    "AB_READOUT",
    "ALERTS",
    "ALL_SLICE",
    "Column",
    "DEMAND_FORECAST",
    "ENGAGEMENT_DAILY",
    "ENGAGEMENT_SUMMARY",
    "EVENTS",
    "OCA_FILL_PLAN",
    "QOE_DIMENSIONS",
    "QOE_MINUTE",
    "SESSIONS",
    "STREAM_CHECKPOINTS",
    "TABLES",
    "Table",
    "table_spec",
]

S = LogicalType.STRING
I32 = LogicalType.INT32
I64 = LogicalType.INT64
F64 = LogicalType.FLOAT64
BOOL = LogicalType.BOOL
DATE = LogicalType.DATE
TS = LogicalType.TIMESTAMP
BIN = LogicalType.BINARY
MAP = LogicalType.STRING_MAP


@dataclass(frozen=True)
class Column:
    """One column: its name, logical type, analyst comment and whether it may be NULL."""

    name: str
    type: LogicalType
    comment: str
    nullable: bool = False

    def __post_init__(self) -> None:
        if not self.comment.strip():
            raise ValueError(f"column {self.name} has no comment; every column is documented for analysts")
        if self.nullable and self.type is LogicalType.STRING_MAP:
            raise ValueError(
                f"column {self.name}: a STRING_MAP cannot be nullable (ClickHouse Map); use {{}}"
            )
        if self.nullable and self.type in (LogicalType.INT32_ARRAY, LogicalType.FLOAT64_ARRAY):
            raise ValueError(
                f"column {self.name}: an array cannot be nullable (ClickHouse Array); use an empty array"
            )

    @property
    def arrow_field(self) -> pa.Field:
        return pa.field(self.name, self.type.arrow, nullable=self.nullable)


@dataclass(frozen=True)
class Table:
    """One table (or view): its columns, unique key, partition column, comment and kind.

    `key` is the unique key: upserts replace rows with the same key, and ClickHouse orders by
    it. `partition_column` is the column nightly jobs replace per value (a DATE) or, for a
    TIMESTAMP, the column whose day partitions the ClickHouse table; None for no partitioning.
    `grain` is one sentence saying what one row is.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition_column: str | None
    comment: str
    kind: Literal["table", "view"] = "table"
    grain: str = ""

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name} has duplicate column names")
        if not self.comment.strip():
            raise ValueError(f"table {self.name} has no comment")
        for name in self.key:
            if name not in names:
                raise ValueError(f"table {self.name}: key column {name} is not a column")
            if self.column(name).nullable and self.kind == "table":
                raise ValueError(f"table {self.name}: key column {name} must be NOT NULL")
        if self.partition_column is not None:
            if self.partition_column not in self.key:
                raise ValueError(
                    f"table {self.name}: partition column {self.partition_column} must be in the key"
                )
            if self.column(self.partition_column).type not in (DATE, TS):
                raise ValueError(f"table {self.name}: partition column must be a DATE or TIMESTAMP")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name} has no column {name!r}; columns: {', '.join(self.column_names)}")

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema rows of this table are cast to before they are written."""
        return pa.schema([c.arrow_field for c in self.columns])

    @property
    def replaceable_by_date(self) -> bool:
        """True when nightly jobs can replace one partition (a DATE partition column)."""
        return self.partition_column is not None and self.column(self.partition_column).type is DATE

    def conform(self, data: pa.Table | pa.RecordBatch) -> pa.Table:
        """`data` with exactly this table's columns, in order, cast to their Arrow types.

        Missing nullable columns become NULL; a missing NOT NULL column, an unknown column, a
        value that does not cast, or a NULL in a NOT NULL column raises ValueError naming it.
        """
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        unknown = [name for name in data.column_names if name not in self.column_names]
        if unknown:
            raise ValueError(f"{self.name} has no column(s) {', '.join(unknown)}")
        arrays = []
        for column in self.columns:
            if column.name not in data.column_names:
                if not column.nullable:
                    raise ValueError(f"{self.name}.{column.name} is NOT NULL but missing from the data")
                arrays.append(pa.nulls(data.num_rows, column.type.arrow))
                continue
            values = data.column(column.name)
            try:
                values = values.cast(column.type.arrow)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"{self.name}.{column.name}: cannot store {values.type} as {column.type.name}: {exc}"
                ) from exc
            if not column.nullable and values.null_count:
                raise ValueError(f"{self.name}.{column.name} is NOT NULL but has {values.null_count} NULL(s)")
            arrays.append(values)
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def rows_outside(self, data: pa.Table, column: str, value: Any) -> int:
        """How many rows of conformed `data` have `column` different from `value`."""
        if data.num_rows == 0:
            return 0
        scalar = pa.scalar(value, type=self.column(column).type.arrow)
        matches = pc.equal(data.column(column), scalar)
        return data.num_rows - pc.sum(matches.cast(pa.int64())).as_py()


def _table(
    name: str,
    comment: str,
    grain: str,
    columns: Iterable[Column],
    key: tuple[str, ...],
    partition_column: str | None,
) -> Table:
    return Table(name, tuple(columns), key, partition_column, comment, "table", grain)


# --------------------------------------------------------------------------------------------
# events: a view over the Parquet lake, derived from the event schema and its Avro docs.

_EVENT_DOC_OVERRIDES = {
    "user_id": "Pseudonymized member id: a keyed hash of the account id, applied before events reach the "
    "lake (the raw id never reaches the warehouse). Stable per member, so it joins sessions and "
    "engagement_daily.",
    "device_type": "Device class: TV (smart TV or streaming stick), MOBILE, TABLET, WEB (browser), CONSOLE, "
    "OTHER.",
    "device_os": "Operating system or platform of the device, e.g. tizen, webos, android, ios, windows.",
    "app_version": "Version of the player application, e.g. 8.112.0.",
    "experiments": "A/B test allocations of the member at the time of the event: test id -> cell id "
    "(empty map when none).",
    "event_id": "UUID of this event, chosen by the player; the deduplication key. The view keeps one row "
    "per event_id within an event_date/hour partition, so redelivered copies are not counted twice.",
}


def _avro_docs() -> dict[str, str]:
    docs: dict[str, str] = {}
    for field in playback_event_schema()["fields"]:
        docs[field["name"]] = field.get("doc", "")
    return docs


def _event_columns() -> list[Column]:
    docs = _avro_docs()
    columns = []
    for field in EVENT_SCHEMA:
        comment = _EVENT_DOC_OVERRIDES.get(field.name) or docs.get(field.name, "")
        columns.append(Column(field.name, LogicalType.from_arrow(field.type), comment, field.nullable))
    columns.append(
        Column(
            "event_date",
            DATE,
            "Lake partition: UTC date of the event's event time (event_ts_ms), from its folder "
            "event_date=YYYY-MM-DD. Filter on it (and hour) so only those files are read.",
        )
    )
    columns.append(
        Column(
            "hour",
            I32,
            "Lake partition: UTC hour 0-23 of the event's event time (event_ts_ms), from its folder hour=H.",
        )
    )
    return columns


EVENTS = Table(
    name="events",
    columns=tuple(_event_columns()),
    key=("event_date", "hour", "event_id"),
    partition_column="event_date",
    comment="Raw player events as landed in the Parquet lake (Hive partitions event_date=/hour=), one column "
    "per PlaybackEvent field with the device flattened. A view: it reads the lake files at query time, so "
    "new files show up without a reload. User ids are pseudonymized.",
    kind="view",
    grain="One row per event (event_id); redelivered copies in the same hour partition are collapsed.",
)

# --------------------------------------------------------------------------------------------
# qoe_minute: the streaming QoE job's closed (and provisional) 1-minute windows.

#: The slice dimensions of `qoe_minute`, in the order they appear in the table and in `slice`.
QOE_DIMENSIONS: tuple[str, ...] = ("region", "country", "device_type", "isp", "cdn", "oca_id", "title_id")
#: The value a dimension column holds when the row is not sliced by that dimension.
ALL_SLICE = "*"

_DIMENSION_DOCS = {
    "region": "Delivery region of the viewers, e.g. us-east",
    "country": "Country of the viewers, ISO 3166-1 alpha-2, e.g. US",
    "device_type": "Device class: TV, MOBILE, TABLET, WEB, CONSOLE, OTHER",
    "isp": "Internet service provider of the viewers",
    "cdn": "Content delivery network that served the sessions, e.g. oca",
    "oca_id": "Edge cache appliance (OCA) that served the sessions, '' when not served by an OCA",
    "title_id": "Title played",
}

QOE_MINUTE = _table(
    "qoe_minute",
    "Live quality of experience per 1-minute event-time window, slice and Kafka source partition, written "
    "by the streaming QoE job. Counts and sums add up over source partitions, over disjoint slices and over "
    "windows; percentiles do not - merge vst_sketch instead. To read a slice, filter slice and the named "
    "dimension columns and sum over source_partition, e.g. WHERE slice = 'region' AND region = 'us-east'. "
    "Any coarser slice can be rebuilt from a finer one by grouping on fewer dimensions.",
    "One row per window_start x slice (slice name and dimension values) x source_partition. A provisional "
    "row is replaced by the final row of the same key.",
    [
        Column(
            "window_start",
            TS,
            "Start of the 1-minute event-time window (UTC, inclusive); the window is "
            "[window_start, window_start + 60 s).",
        ),
        Column(
            "slice",
            S,
            "Which dimensions this row is grouped by: the dimension column names, comma-separated in "
            "table order (region, country, device_type, isp, cdn, oca_id, title_id), e.g. 'region' or "
            "'region,device_type'; 'all' for the global total. Dimensions not named hold '*'.",
        ),
        *(
            Column(name, S, f"{_DIMENSION_DOCS[name]}; '*' when slice does not name {name} (all values).")
            for name in QOE_DIMENSIONS
        ),
        Column(
            "source_partition",
            I32,
            "Kafka partition of playback.events this row was computed from. Events are keyed by member, "
            "so a session lives in one partition; sum (or merge sketches) over partitions for totals.",
        ),
        Column("attempts", I64, "Play attempts: PLAY_REQUEST events in the window (count)."),
        Column("starts", I64, "Video starts: PLAY_START events in the window, first frame shown (count)."),
        Column(
            "vst_sketch",
            BIN,
            "DDSketch (1% relative accuracy) of video start time in milliseconds (startup_ms of the "
            "starts), serialized. Merge the sketches of several rows to get VST percentiles of any "
            "coarser slice or longer range. NULL when starts = 0.",
            nullable=True,
        ),
        *(
            Column(
                f"vst_p{q}_ms",
                F64,
                f"{q}th percentile of video start time of this row's starts, milliseconds, from vst_sketch "
                "(within 1% of the exact value). NULL when starts = 0. Do not average across rows.",
                nullable=True,
            )
            for q in (50, 90, 95, 99)
        ),
        Column(
            "vst_bin_keys",
            LogicalType.INT32_ARRAY,
            "The bins of vst_sketch as an array, ascending, one per non-empty bin (the counts are in "
            "vst_bin_counts at the same positions): merge any set of rows in SQL and take percentiles from "
            "the merged bins (ClickHouse: sumMap(vst_bin_keys, vst_bin_counts); the ready-made quantile "
            "expressions for both engines are in streaming/sketch_sql.py). A key k >= -2147483647 is the "
            "DDSketch bin of values in (gamma^(k-1), gamma^k] ms, gamma = 1.02/0.98, whose representative "
            "value 2 * gamma^k / (1 + gamma) is within 1% of every value in it; the key -2147483648 counts "
            "start-up times of 0 ms. Empty when starts = 0.",
        ),
        Column(
            "vst_bin_counts",
            LogicalType.FLOAT64_ARRAY,
            "Count of start-ups in each bin of vst_bin_keys (same length and order); sums to the starts that "
            "reported a start-up time.",
        ),
        Column(
            "playing_ms",
            I64,
            "Content played in the window, milliseconds summed over sessions (sum of played_ms); stalls "
            "excluded.",
        ),
        Column(
            "rebuffer_ms",
            I64,
            "Time stalled rebuffering in the window, milliseconds summed over sessions (sum of rebuffer_ms "
            "of REBUFFER_END); seek stalls and the start-up wait are excluded.",
        ),
        Column("rebuffers", I64, "Rebuffering stalls that ended in the window (REBUFFER_END events, count)."),
        Column(
            "rebuffer_ratio",
            F64,
            "rebuffer_ms / (playing_ms + rebuffer_ms), a fraction 0-1 (0.005 = 0.5%). NULL when both are 0. "
            "For coarser slices recompute it from the sums.",
            nullable=True,
        ),
        Column(
            "start_failures",
            I64,
            "Attempts that ended with a fatal error before the first frame (count). Video start failure % "
            "= 100 * start_failures / attempts.",
        ),
        Column(
            "ebvs",
            I64,
            "Exits before video start: attempts abandoned before the first frame with no fatal error "
            "(count). EBVS % = 100 * ebvs / attempts.",
        ),
        Column(
            "playback_failures",
            I64,
            "Starts that later ended in a fatal error (count). Playback failure % = 100 * playback_failures "
            "/ starts.",
        ),
        Column(
            "bitrate_kbps_ms",
            I64,
            "Sum of bitrate_kbps * played_ms over the window (kbps x ms): the numerator of the time-weighted "
            "average bitrate. Average bitrate in kbps = bitrate_kbps_ms / playing_ms.",
        ),
        Column(
            "avg_bitrate_kbps",
            F64,
            "Time-weighted average bitrate over playing time, kbps (bitrate_kbps_ms / playing_ms). NULL when "
            "playing_ms = 0. For coarser slices recompute it from the sums.",
            nullable=True,
        ),
        Column(
            "concurrent_plays",
            F64,
            "Average number of sessions in playback during the window: (playing_ms + rebuffer_ms) / 60 000. "
            "A time average, so it adds up over source partitions and disjoint slices; average it over "
            "windows.",
        ),
        Column(
            "late_events",
            I64,
            "Events of this slice that arrived after the watermark (max event time seen minus the allowed "
            "lateness) had closed their own window, counted in the window that was the partition's newest "
            "when they arrived. They are in no row's other metrics; the lake and the nightly tables have "
            "them (count).",
        ),
        Column(
            "provisional",
            BOOL,
            "True for an early emission of a still-open window; the final emission (false) replaces it "
            "under the same key.",
        ),
        Column(
            "emitted_at",
            TS,
            "When the streaming job emitted this row (UTC); emitted_at - window_start is the freshness.",
        ),
    ],
    key=("window_start", "slice", *QOE_DIMENSIONS, "source_partition"),
    partition_column="window_start",
)

STREAM_CHECKPOINTS = _table(
    "stream_checkpoints",
    "Where each streaming job resumes each Kafka partition after a restart or a rebalance, with the "
    "event-time state that makes the replay decide exactly as the first run did. Written by the jobs after "
    "their output and before they commit offsets to Kafka; operators read it to see job progress.",
    "One row per job x topic x partition, holding its latest checkpoint.",
    [
        Column("job", S, "Streaming job, e.g. qoe."),
        Column("topic", S, "Kafka topic consumed, e.g. playback.events."),
        Column("kafka_partition", I32, "Partition of the topic."),
        Column("resume_offset", I64, "Offset to resume from: the first event of the oldest open window."),
        Column(
            "max_ts_before_ms",
            I64,
            "Largest event time (ms since epoch) of the events before resume_offset; NULL before any event.",
            nullable=True,
        ),
        Column(
            "closed_through_ms",
            I64,
            "Watermark (ms since epoch) below which every window is final and already written; NULL before "
            "any window closed.",
            nullable=True,
        ),
        Column(
            "watermark_advances",
            S,
            "Idle-partition watermark advances at or after resume_offset, as a JSON list of [offset, "
            "max_ts_ms] pairs: from that offset on, the partition's max event time counts as at least "
            "max_ts_ms. A replay applies them where the first run did, so it decides lateness the same way. "
            "'[]' when none.",
            nullable=True,
        ),
        Column("updated_at", TS, "When the checkpoint was written (UTC)."),
    ],
    key=("job", "topic", "kafka_partition"),
    partition_column=None,
)


# --------------------------------------------------------------------------------------------
# alerts: one row per incident, updated in place as it moves pending -> firing -> resolved.

ALERTS = _table(
    "alerts",
    "Alerts raised by the alerts app over qoe_minute: one row per incident, rewritten on every state "
    "change, so the table always shows the latest state of each incident.",
    "One row per incident (fingerprint), holding its latest state.",
    [
        Column(
            "fingerprint",
            S,
            "Identity of one incident: a hash of rule, slice and the window it started in. Every update of "
            "the incident carries the same fingerprint.",
        ),
        Column(
            "dedup_key",
            S,
            "Hash of rule and slice: at most one incident per dedup_key is open (pending or firing) at a "
            "time, so a slice that stays broken is one incident, not one per window.",
        ),
        Column("rule", S, "Name of the rule or anomaly detector that raised it, e.g. vst_p95_anomaly."),
        Column("metric", S, "The qoe_minute metric watched, e.g. vst_p95_ms, rebuffer_ratio, ebvs_pct."),
        Column(
            "slice",
            S,
            "The broken slice as dimension=value pairs, comma-separated in qoe_minute dimension order, "
            "e.g. 'region=us-east,device_type=TV'; 'all' for the global total.",
        ),
        Column(
            "state",
            S,
            "pending (condition met, waiting for its hold time), firing (notified), resolved (the "
            "condition cleared by itself) or cancelled (cleared while pending; never notified).",
        ),
        Column("severity", S, "critical, warning or info."),
        Column("started_at", TS, "Start of the first window in which the condition held (UTC, event time)."),
        Column(
            "fired_at",
            TS,
            "End of the window in which the incident started firing (UTC, event time); fired_at - "
            "started_at is the time to detect. NULL while pending and for cancelled incidents.",
            nullable=True,
        ),
        Column(
            "ended_at",
            TS,
            "End of the last window in which the condition held, once resolved (UTC, event time); NULL while "
            "pending or firing.",
            nullable=True,
        ),
        Column(
            "observed",
            F64,
            "Value of the metric in the latest evaluated window, in the metric's unit (ms for VST, fraction "
            "0-1 for ratios, percent for *_pct).",
        ),
        Column(
            "baseline",
            F64,
            "Expected value of the metric from the detector's baseline, same unit as observed; NULL for "
            "static-threshold rules.",
            nullable=True,
        ),
        Column(
            "threshold",
            F64,
            "The value observed is compared against, same unit; NULL for detectors without a fixed "
            "threshold.",
            nullable=True,
        ),
        Column(
            "last_window",
            TS,
            "Start of the latest window evaluated for this incident (UTC, event time); NULL when not known.",
            nullable=True,
        ),
        Column(
            "affected",
            S,
            "Other slices the same cause made breach, rolled up into this incident instead of alerting "
            "on their own (comma-separated slice keys, e.g. 'region=us-east,country=US'); '' when none.",
        ),
        Column(
            "message", S, "Human-readable summary sent with the notification, naming the slice and values."
        ),
        Column(
            "updated_at", TS, "When this row was last written: a state change or a new observation (UTC)."
        ),
    ],
    key=("fingerprint",),
    partition_column=None,
)

# --------------------------------------------------------------------------------------------
# Nightly tables (written by batch jobs with replace_partition, one date at a time).

_REGION = "Delivery region of the viewer, e.g. us-east."
_DEVICE = "Device class: TV, MOBILE, TABLET, WEB, CONSOLE, OTHER."

SESSIONS = _table(
    "sessions",
    "One row per playback session, built nightly from the lake: the session's dimensions, whether it "
    "started, its video start time, playing and rebuffering time, bitrate, errors and how it ended.",
    "One row per session (session_id), in the partition of the UTC date of its first event.",
    [
        Column(
            "session_date",
            DATE,
            "UTC date of the session's first event (its play request); the nightly partition.",
        ),
        Column("session_id", S, "UUID of the playback session (as in events.session_id); unique."),
        Column("user_id", S, "Pseudonymized member id (keyed hash), as in events.user_id."),
        Column("title_id", S, "The title played (as in events.title_id)."),
        Column("region", S, _REGION),
        Column("country", S, "Country of the viewer, ISO 3166-1 alpha-2, e.g. US."),
        Column("device_type", S, _DEVICE),
        Column("device_os", S, "Operating system or platform of the device, e.g. tizen, android, ios."),
        Column("app_version", S, "Version of the player application, e.g. 8.112.0."),
        Column("isp", S, "Internet service provider of the viewer."),
        Column("cdn", S, "Content delivery network that served the session, e.g. oca."),
        Column(
            "oca_id",
            S,
            "Edge cache appliance (OCA) that served the session; NULL when not an OCA.",
            nullable=True,
        ),
        Column("started_at", TS, "Event time of the session's first event (UTC)."),
        Column("ended_at", TS, "Event time of the session's last event (UTC).", nullable=True),
        Column("attempted", BOOL, "True when the session has a PLAY_REQUEST (counts as an attempt)."),
        Column("started", BOOL, "True when the first frame was shown (a PLAY_START: counts as a start)."),
        Column(
            "vst_ms",
            I64,
            "Video start time: startup_ms of the PLAY_START, milliseconds from play request to first frame. "
            "NULL when the session did not start.",
            nullable=True,
        ),
        Column("playing_ms", I64, "Content played, milliseconds, stalls excluded (sum of played_ms)."),
        Column(
            "rebuffer_ms",
            I64,
            "Time stalled rebuffering, milliseconds (sum of rebuffer_ms; seeks and the start-up wait "
            "excluded).",
        ),
        Column("rebuffer_count", I64, "Rebuffering stalls (REBUFFER_END events, count)."),
        Column(
            "avg_bitrate_kbps",
            F64,
            "Time-weighted average bitrate over playing time, kbps; NULL when playing_ms = 0.",
            nullable=True,
        ),
        Column("error_count", I64, "ERROR events in the session, fatal or not (count)."),
        Column(
            "fatal_error_code",
            S,
            "error_code of the fatal error that ended the session; NULL when none did.",
            nullable=True,
        ),
        Column(
            "ebvs", BOOL, "Exit before video start: abandoned before the first frame with no fatal error."
        ),
        Column("start_failure", BOOL, "Video start failure: a fatal error before the first frame."),
        Column("playback_failure", BOOL, "Playback failure: started, then ended by a fatal error."),
        Column(
            "end_reason",
            S,
            "How the session ended (PLAY_END end_reason): COMPLETED, USER_EXIT, EXIT_BEFORE_START, "
            "START_FAILURE, PLAYBACK_FAILURE; NULL when no PLAY_END was received.",
            nullable=True,
        ),
        Column(
            "content_duration_ms",
            I64,
            "Duration of the title, milliseconds; NULL when unknown.",
            nullable=True,
        ),
        Column(
            "completed",
            BOOL,
            "Completion: at least 90% of the title's duration watched (false when the duration is unknown).",
        ),
        Column("experiments", MAP, "A/B test allocations of the member in this session: test id -> cell id."),
    ],
    key=("session_date", "session_id"),
    partition_column="session_date",
)

ENGAGEMENT_DAILY = _table(
    "engagement_daily",
    "Daily engagement per member, title, region and device, built nightly from sessions. DAU = count of "
    "distinct user_id for a date.",
    "One row per date x user_id x title_id x region x device_type.",
    [
        Column("date", DATE, "UTC date of the sessions (sessions.session_date); the nightly partition."),
        Column("user_id", S, "Pseudonymized member id (keyed hash), as in events.user_id."),
        Column("title_id", S, "The title played (as in events.title_id)."),
        Column("region", S, _REGION),
        Column("device_type", S, _DEVICE),
        Column(
            "watch_time_ms", I64, "Watch time: content played, milliseconds (sum of sessions.playing_ms)."
        ),
        Column("sessions", I64, "Playback sessions (attempts) of the member on the title that day (count)."),
        Column("completions", I64, "Sessions that watched at least 90% of the title (count)."),
    ],
    key=("date", "user_id", "title_id", "region", "device_type"),
    partition_column="date",
)

ENGAGEMENT_SUMMARY = _table(
    "engagement_summary",
    "Daily engagement totals, built nightly from engagement_daily: DAU, watch time, sessions and completions "
    "overall, per region, per device type, per region x device type, and per title (title performance), "
    "with a rolling 7-day retention. A dimension column holding '*' means all values (the row is not "
    "sliced by it), as in qoe_minute; sum only rows of one slice.",
    "One row per date x slice x title_id x region x device_type.",
    [
        Column("date", DATE, "UTC date of the sessions; the nightly partition."),
        Column("slice", S, "Which dimensions the row is sliced by: all, region, device_type, "
               "region,device_type or title_id."),
        Column("title_id", S, "The title, or '*' on rows not sliced by title."),
        Column("region", S, "Delivery region, or '*' on rows not sliced by region."),
        Column("device_type", S, "Device class, or '*' on rows not sliced by device type."),
        Column("members", I64, "Distinct members with a session in the slice that day (DAU of the slice)."),
        Column("sessions", I64, "Playback sessions in the slice that day (count)."),
        Column("watch_time_ms", I64, "Watch time in the slice that day, milliseconds (sum of playing_ms)."),
        Column("completions", I64, "Sessions that watched at least 90% of the title (count)."),
        Column(
            "completion_rate", F64, "completions / sessions, a fraction 0-1; NULL when sessions = 0.",
            nullable=True,
        ),
        Column(
            "retention_cohort_7d",
            I64,
            "Members active in the slice 7 days before date (the cohort); NULL when that date was never "
            "published.",
            nullable=True,
        ),
        Column(
            "retained_7d",
            I64,
            "Members of the cohort active again (anywhere) on one of the 7 days after the cohort date, up "
            "to and including date; NULL when the cohort is NULL.",
            nullable=True,
        ),
        Column(
            "retention_7d",
            F64,
            "Rolling 7-day retention: retained_7d / retention_cohort_7d, a fraction 0-1; NULL when the "
            "cohort is NULL or empty.",
            nullable=True,
        ),
    ],
    key=("date", "slice", "title_id", "region", "device_type"),
    partition_column="date",
)

AB_READOUT = _table(
    "ab_readout",
    "Nightly A/B test readouts: per test, metric and cell the summary statistics and the comparison with "
    "the control cell (delta, 95% confidence interval, p-value), the CUPED-adjusted variant and the "
    "sample-ratio-mismatch check. Guardrail rows are the QoE metrics (play delay, rebuffers, errors).",
    "One row per run_date x test_id x metric x cell.",
    [
        Column(
            "run_date", DATE, "Date the readout covers data up to and including (UTC); the nightly partition."
        ),
        Column("test_id", S, "A/B test id, as in events.experiments keys."),
        Column(
            "metric",
            S,
            "Metric compared. Engagement: watch_time_ms and sessions (per member over the test), "
            "completion_rate (completions / sessions), retention (share of members active again on a later "
            "day). Guardrails: vst_p50_ms, vst_p95_ms (video start time quantiles of started sessions), "
            "rebuffer_ratio (rebuffer / (playing + rebuffer) time), start_failure_rate (start failures / "
            "attempts).",
        ),
        Column("cell", S, "Cell id, as in events.experiments values."),
        Column("is_control", BOOL, "True for the control cell: the baseline of the delta columns."),
        Column("is_guardrail", BOOL, "True for QoE guardrail metrics, which must not get worse."),
        Column(
            "n",
            I64,
            "Members in the cell with data for this metric (count); for vst_p50_ms and vst_p95_ms, "
            "started sessions.",
        ),
        Column(
            "mean",
            F64,
            "The metric's value in this cell, in its unit: the mean per member (watch_time_ms, sessions, "
            "retention), the ratio of the cell's totals (completion_rate, rebuffer_ratio, "
            "start_failure_rate) or the quantile (vst_p50_ms, vst_p95_ms); NULL when n = 0 (e.g. retention on "
            "a test's first day).",
            nullable=True,
        ),
        Column(
            "variance",
            F64,
            "Variance of the metric per member, in the metric's unit squared (for ratio metrics the "
            "delta-method variance of one member's contribution); NULL when n < 2 and for quantiles.",
            nullable=True,
        ),
        Column(
            "delta_abs",
            F64,
            "mean - control mean, in the metric's unit; NULL on the control row.",
            nullable=True,
        ),
        Column(
            "delta_rel",
            F64,
            "(mean - control mean) / control mean, a fraction (0.05 = +5%); NULL on the control row.",
            nullable=True,
        ),
        Column(
            "ci_low_abs",
            F64,
            "Lower bound of the 95% confidence interval of delta_abs; NULL on control.",
            nullable=True,
        ),
        Column(
            "ci_high_abs",
            F64,
            "Upper bound of the 95% confidence interval of delta_abs; NULL on control.",
            nullable=True,
        ),
        Column(
            "ci_low_rel",
            F64,
            "Lower bound of the 95% confidence interval of delta_rel (fraction); NULL on control.",
            nullable=True,
        ),
        Column(
            "ci_high_rel",
            F64,
            "Upper bound of the 95% confidence interval of delta_rel (fraction); NULL on control.",
            nullable=True,
        ),
        Column("p_value", F64, "Two-sided p-value of delta = 0; NULL on control.", nullable=True),
        Column(
            "p_value_adjusted",
            F64,
            "p_value after Holm's multiple-comparison adjustment over all of the test's comparisons "
            "(every metric x non-control cell); NULL on control.",
            nullable=True,
        ),
        Column(
            "method",
            S,
            "How delta, CI and p-value were computed: welch t (means), wald z (proportions), delta method z "
            "(ratios), bootstrap (quantiles); control rows say control.",
        ),
        Column(
            "cuped_delta_abs",
            F64,
            "delta_abs after CUPED variance reduction with the pre-period value of "
            "the metric as covariate; NULL on control or without pre-period data.",
            nullable=True,
        ),
        Column(
            "cuped_delta_rel",
            F64,
            "delta_rel after CUPED (fraction); NULL on control or without pre-period data.",
            nullable=True,
        ),
        Column(
            "cuped_ci_low_abs",
            F64,
            "Lower bound of the 95% CI of cuped_delta_abs; NULL when not computed.",
            nullable=True,
        ),
        Column(
            "cuped_ci_high_abs",
            F64,
            "Upper bound of the 95% CI of cuped_delta_abs; NULL when not computed.",
            nullable=True,
        ),
        Column(
            "cuped_p_value",
            F64,
            "Two-sided p-value of cuped_delta_abs = 0; NULL when not computed.",
            nullable=True,
        ),
        Column(
            "srm_p_value",
            F64,
            "Chi-square p-value of the sample-ratio-mismatch check of the test's cell "
            "sizes against the planned split (same on every row of the test).",
        ),
        Column(
            "srm_flag", BOOL, "True when srm_p_value < 0.001: allocation is broken, do not trust the readout."
        ),
        Column(
            "notes", S, "Warnings for readers (low n, SRM, guardrail breach); NULL when none.", nullable=True
        ),
    ],
    key=("run_date", "test_id", "metric", "cell"),
    partition_column="run_date",
)

DEMAND_FORECAST = _table(
    "demand_forecast",
    "Nightly demand forecast per title and region for the next days, with the backtest accuracy of the "
    "model that made it. Demand is watch time in hours. Run accuracy: sum(backtest_mae_hours) / "
    "sum(backtest_snaive_mae_hours) over a run_date is the pooled MAE relative to the weekly seasonal naive "
    "(below 1 beats it).",
    "One row per run_date x title_id x region x target_date.",
    [
        Column(
            "run_date",
            DATE,
            "Date the nightly run covers (UTC): the forecast uses history up to and including "
            "this day. The nightly partition.",
        ),
        Column("title_id", S, "The title forecast (as in events.title_id)."),
        Column("region", S, _REGION),
        Column("target_date", DATE, "The day forecast (UTC): run_date + 1 to run_date + 14."),
        Column(
            "forecast_hours", F64, "Predicted watch time of the title in the region on target_date, hours."
        ),
        Column("lower_hours", F64, "Lower bound of the 80% prediction interval, hours."),
        Column("upper_hours", F64, "Upper bound of the 80% prediction interval, hours."),
        Column(
            "model",
            S,
            "Model that made the forecast: ets (damped-trend exponential smoothing on the weekly-adjusted "
            "series; ets_log: the same on log(1 + hours), used where a steep decay would cross zero), ses (simple exponential smoothing, for sparse series) or launch_prior (a release in "
            "its first week or due inside the horizon: the mean curve of past launches, scaled by its first "
            "days).",
        ),
        Column(
            "backtest_mase",
            F64,
            "Mean absolute scaled error of the model for this title and region on the "
            "backtest (scaled by the weekly seasonal-naive error; below 1 beats it). NULL without enough "
            "history.",
            nullable=True,
        ),
        Column(
            "backtest_smape",
            F64,
            "Symmetric mean absolute percentage error on the backtest, percent 0-200. "
            "NULL without enough history.",
            nullable=True,
        ),
        Column(
            "backtest_mae_hours",
            F64,
            "Mean absolute error of the model on the backtest's held-out days (the last 7 days of history, "
            "model fitted on the days before), hours. NULL without enough history.",
            nullable=True,
        ),
        Column(
            "backtest_snaive_mae_hours",
            F64,
            "Mean absolute error of the weekly seasonal naive forecast (the value 7 days earlier) on the "
            "same held-out days, hours. NULL without enough history.",
            nullable=True,
        ),
    ],
    key=("run_date", "title_id", "region", "target_date"),
    partition_column="run_date",
)

OCA_FILL_PLAN = _table(
    "oca_fill_plan",
    "Nightly fill plan per edge cache appliance (OCA): which titles to hold, fill (copy in tonight's fill "
    "window) or evict, under the appliance's disk capacity and nightly fill budget (fill window x fill rate), "
    "ranked by predicted bytes served per GB stored. The plan of run_date is filled the night after it and "
    "serves run_date + 1.",
    "One row per run_date x oca_id x title_id, for every title the appliance stores, evicts or is predicted "
    "to be asked for.",
    [
        Column(
            "run_date",
            DATE,
            "Date the nightly run covers (UTC); the plan serves the day after. The nightly partition.",
        ),
        Column("oca_id", S, "The edge cache appliance (OCA) the plan is for (as in events.oca_id)."),
        Column("title_id", S, "The title to hold, fill or evict (as in events.title_id)."),
        Column("region", S, "Delivery region the appliance serves, e.g. us-east."),
        Column(
            "action",
            S,
            "hold (keep, already stored), fill (copy tonight), evict (delete to free space), defer (worth "
            "storing but over tonight's fill budget: a later night) or skip (not stored: served upstream). "
            "Stored tomorrow = hold + fill.",
        ),
        Column(
            "size_bytes",
            I64,
            "Size of the title's files on the appliance, bytes: what fill copies or evict frees.",
        ),
        Column(
            "predicted_demand_bytes",
            F64,
            "Bytes the appliance is predicted to serve for the title over the "
            "plan horizon if stored, from demand_forecast.",
        ),
        Column(
            "value_per_gb",
            F64,
            "predicted_demand_bytes / (size_bytes / 1e9): bytes served per GB of disk, "
            "the popularity the plan ranks by.",
        ),
        Column(
            "reason",
            S,
            "Why this action, e.g. rank by demand per GB above the capacity cutoff, new release "
            "pre-positioned, below the cutoff.",
        ),
        Column(
            "predicted_offload_bytes",
            F64,
            "Bytes this title is predicted to serve from the appliance after "
            "the plan instead of upstream (0 unless hold or fill). Sum per appliance / its total demand = its "
            "predicted offload ratio.",
        ),
    ],
    key=("run_date", "oca_id", "title_id"),
    partition_column="run_date",
)

#: Every table of the warehouse, by name, in dictionary order.
TABLES: Mapping[str, Table] = {
    t.name: t
    for t in (
        EVENTS,
        QOE_MINUTE,
        ALERTS,
        SESSIONS,
        ENGAGEMENT_DAILY,
        ENGAGEMENT_SUMMARY,
        AB_READOUT,
        DEMAND_FORECAST,
        OCA_FILL_PLAN,
        STREAM_CHECKPOINTS,
    )
}


def table_spec(table: str | Table) -> Table:
    """The spec of `table` (a name or a spec); ValueError for a name that is not a warehouse table."""
    if isinstance(table, Table):
        if TABLES.get(table.name) is not table:
            raise ValueError(f"{table.name} is not one of the warehouse tables: {', '.join(TABLES)}")
        return table
    try:
        return TABLES[table]
    except KeyError:
        raise ValueError(f"unknown table {table!r}; the warehouse tables are {', '.join(TABLES)}") from None
