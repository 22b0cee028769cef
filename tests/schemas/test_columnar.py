"""The columnar Avro codec against fastavro: the same bytes, the same rows, bad messages as data."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas.columnar as columnar
import schemas.columnar_encode as columnar_encode
from ingest.simulator import SimulationConfig, Simulator
from schemas.columnar import EVENT_FLAT_NAMES, ColumnarCodec, decode_events, encode_events, event_codec
from schemas.events import (
    DEVICE_TYPES,
    END_REASONS,
    EVENT_SCHEMA,
    from_avro_records,
    playback_event_schema,
    to_avro_records,
)
from schemas.history import published_versions
from schemas.serde import AvroSerde, SerializationError

SCHEMA_ID = 42
SCHEMA = playback_event_schema()
EVENT_TYPE_SYMBOLS = SCHEMA["fields"][1]["type"]["symbols"]
SERDE = AvroSerde(SCHEMA, SCHEMA_ID)

RECORD: dict[str, Any] = {
    "event_id": "7d3c1f6e-6a59-4a8e-9a5c-1f0f4f1d2b3c",
    "event_type": "REBUFFER_END",
    "event_ts_ms": 1_700_000_000_000,
    "received_ts_ms": 1_700_000_000_250,
    "user_id": "u0000001",
    "session_id": "0b8f3c5e-2a7d-4f4e-8c1b-9d0e6f5a4b3c",
    "seq": 7,
    "title_id": "t00042",
    "device": {"type": "MOBILE", "os": "ios", "app_version": "16.2.1"},
    "region": "eu-west",
    "country": "GB",
    "isp": "bt",
    "cdn": "oca",
    "oca_id": "oca-eu-west-bt-01",
    "startup_ms": None,
    "rebuffer_ms": 1234,
    "bitrate_kbps": 2800,
    "position_ms": 61_000,
    "buffer_length_ms": 0,
    "throughput_kbps": 3100,
    "content_duration_ms": None,
    "played_ms": 0,
    "end_reason": None,
    "error_code": None,
    "fatal": False,
    "experiments": {"abr-fast-start": "control"},
}


def record(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(RECORD)
    out.update(changes)
    return out


def fastavro_bytes(table: pa.Table) -> list[bytes]:
    return [SERDE.encode(r) for r in to_avro_records(table)]


def fastavro_rows(messages: list[bytes]) -> pa.Table:
    return from_avro_records([SERDE.decode(m) for m in messages])


@pytest.fixture(scope="module")
def simulated() -> pa.Table:
    return Simulator(SimulationConfig(seed=1, users=300, days=0.2)).table()


# -- the plan -------------------------------------------------------------------------------------


def test_the_plan_of_playback_event_is_the_flat_event_schema() -> None:
    assert event_codec().arrow_schema.equals(EVENT_SCHEMA)


# -- simulated traffic, both ways -----------------------------------------------------------------


def test_encoding_simulated_events_is_byte_identical_to_fastavro(simulated: pa.Table) -> None:
    ours = encode_events(simulated, SCHEMA_ID)
    assert ours.type == pa.binary() and len(ours) == simulated.num_rows
    assert ours.to_pylist() == fastavro_bytes(simulated)


def test_decoding_fastavro_messages_gives_fastavros_rows(simulated: pa.Table) -> None:
    messages = fastavro_bytes(simulated)
    result = decode_events(messages, SCHEMA_ID)
    assert result.table.equals(fastavro_rows(messages))
    assert result.table.equals(simulated.cast(EVENT_SCHEMA))
    assert result.rows.tolist() == list(range(len(messages)))
    assert result.bad_rows.tolist() == [] and result.errors == []


def test_fastavro_decodes_our_messages_back_to_the_table(simulated: pa.Table) -> None:
    assert fastavro_rows(encode_events(simulated, SCHEMA_ID).to_pylist()).equals(simulated.cast(EVENT_SCHEMA))


@pytest.mark.parametrize("shape", ["list", "array", "chunked", "sliced"])
def test_decode_takes_bytes_or_binary_arrays(simulated: pa.Table, shape: str) -> None:
    table = simulated.slice(0, 200)
    messages = encode_events(simulated, SCHEMA_ID)
    values = {
        "list": messages.to_pylist()[:200],
        "array": messages.slice(0, 200),
        "chunked": pa.chunked_array([messages.slice(0, 70), messages.slice(70, 130)]),
        "sliced": pa.concat_arrays([messages.slice(0, 7), messages]).slice(7, 200),
    }[shape]
    assert decode_events(values, SCHEMA_ID).table.equals(table.cast(EVENT_SCHEMA))


def test_chunked_encoding_and_blocked_decoding_keep_order(
    simulated: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar_encode, "CHUNK_ROWS", 97)
    monkeypatch.setattr(columnar, "DECODE_BLOCK", 89)
    table = pa.concat_tables([simulated.slice(0, 150), simulated.slice(150, 250)])  # two chunks
    messages = encode_events(table, SCHEMA_ID).to_pylist()
    assert messages == fastavro_bytes(table)
    messages[100] = b"\x00broken"
    result = decode_events(messages, SCHEMA_ID)
    assert result.bad_rows.tolist() == [100]
    assert result.rows.tolist() == [i for i in range(len(messages)) if i != 100]
    expected = table.cast(EVENT_SCHEMA).take([i for i in range(table.num_rows) if i != 100])
    assert result.table.equals(expected)


# -- edge values ----------------------------------------------------------------------------------

EDGE_RECORDS = [
    record(event_ts_ms=-(2**63), received_ts_ms=2**63 - 1, position_ms=-1, rebuffer_ms=-(2**63)),
    record(event_ts_ms=0, received_ts_ms=63, position_ms=64, rebuffer_ms=-64, startup_ms=-65),
    record(played_ms=2**56 - 1, event_ts_ms=2**56, received_ts_ms=-(2**56), position_ms=2**62),
    record(rebuffer_ms=2**31, played_ms=-(2**31) - 1, startup_ms=2**49, position_ms=-(2**49) - 1),
    record(seq=2**31 - 1, bitrate_kbps=-(2**31), throughput_kbps=2**31 - 1),
    record(seq=-(2**31), bitrate_kbps=0, throughput_kbps=-1),
    record(event_id="", user_id="", region="", oca_id="", error_code="", experiments={"": ""}),
    record(isp="télécom", country="中国", title_id="🎬 e\u0301", error_code="ошибка"),
    record(experiments={"ключ": "値", "emoji-🎉": "𝄞"}),
    record(experiments={}),
    record(experiments={f"test-{i}": f"cell-{i % 3}" for i in range(12)}),
    record(fatal=True),
    record(
        oca_id=None, startup_ms=None, rebuffer_ms=None, bitrate_kbps=None, position_ms=None,
        buffer_length_ms=None, throughput_kbps=None, content_duration_ms=None, played_ms=None,
        end_reason=None, error_code=None,
    ),  # fmt: skip
    *[record(event_type=symbol) for symbol in EVENT_TYPE_SYMBOLS],
    *[record(device={**RECORD["device"], "type": symbol}) for symbol in DEVICE_TYPES],
    *[record(end_reason=symbol) for symbol in (*END_REASONS, "UNKNOWN")],
]  # fmt: skip


def test_edge_values_encode_like_fastavro_and_decode_back() -> None:
    table = from_avro_records(EDGE_RECORDS)
    ours = encode_events(table, SCHEMA_ID).to_pylist()
    assert ours == [SERDE.encode(r) for r in EDGE_RECORDS]
    assert decode_events(ours, SCHEMA_ID).table.equals(table)
    assert [SERDE.decode(m) for m in ours] == EDGE_RECORDS


def test_a_batch_of_only_nulls_and_empty_maps() -> None:
    nullable = [f.name for f in EVENT_SCHEMA if f.nullable]
    rows = [record(**dict.fromkeys(nullable), experiments={}) for _ in range(5)]
    table = from_avro_records(rows)
    ours = encode_events(table, SCHEMA_ID)
    assert ours.to_pylist() == [SERDE.encode(r) for r in rows]
    assert decode_events(ours, SCHEMA_ID).table.equals(table)


def test_an_empty_batch() -> None:
    empty = EVENT_SCHEMA.empty_table()
    assert len(encode_events(empty, SCHEMA_ID)) == 0
    result = decode_events([], SCHEMA_ID)
    assert result.table.equals(empty) and len(result.rows) == 0 and len(result.bad_rows) == 0


def test_many_map_entries_grow_the_decoders_entry_arrays() -> None:
    """Entry room starts at 2 per message + 16; a batch with more grows it and resumes in place."""
    rows = [record(seq=i, experiments={f"t{i}-{j}": f"c{j}" for j in range(25)}) for i in range(4)]
    values = [SERDE.encode(r) for r in rows]
    values.insert(2, values[1][:-4])  # a bad message whose entries must not stay behind
    result = decode_events(values, SCHEMA_ID)
    assert result.bad_rows.tolist() == [2]
    assert result.table.equals(from_avro_records(rows))


def test_duplicate_map_keys_are_written_like_dict_pairs() -> None:
    """Arrow maps may repeat a key; `to_avro_records` keeps the first position and the last value."""
    table = from_avro_records([record(), record()])
    pairs = pa.array(
        [[("a", "1"), ("b", "2"), ("a", "3")], [("x", "1")]], EVENT_SCHEMA.field("experiments").type
    )
    table = table.set_column(
        table.schema.get_field_index("experiments"), EVENT_SCHEMA.field("experiments"), pairs
    )
    assert encode_events(table, SCHEMA_ID).to_pylist() == fastavro_bytes(table)


def test_a_record_batch_encodes_like_its_table(simulated: pa.Table) -> None:
    batch = simulated.slice(0, 300).combine_chunks().to_batches()[0]
    assert encode_events(batch, SCHEMA_ID).equals(encode_events(simulated.slice(0, 300), SCHEMA_ID))


def test_extra_columns_and_column_order_do_not_matter(simulated: pa.Table) -> None:
    table = simulated.slice(0, 50)
    shuffled = table.select(list(reversed(table.column_names))).append_column("extra", pa.array(range(50)))
    assert encode_events(shuffled, SCHEMA_ID).equals(encode_events(table, SCHEMA_ID))


# -- tables that do not fit -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("event_type", ["PLAY_START", "TELEPORT"], r"\['TELEPORT'\] not among the symbols of Avro enum"),
        ("user_id", ["u1", None], "user_id has 1 nulls .* not nullable"),
        ("seq", [1, 2**40], "does not convert"),
    ],
)
def test_a_table_that_does_not_fit_the_schema_is_refused(
    column: str, values: list[Any], message: str
) -> None:
    table = from_avro_records([record(), record()])
    index = table.schema.get_field_index(column)
    array = pa.array(values, pa.int64() if column == "seq" else pa.large_string())
    table = table.set_column(index, column, array)
    with pytest.raises(SerializationError, match=message):
        encode_events(table, SCHEMA_ID)


def test_a_missing_column_without_a_default_is_refused() -> None:
    table = from_avro_records([record()]).drop_columns(["user_id"])
    with pytest.raises(SerializationError, match="column user_id is missing"):
        encode_events(table, SCHEMA_ID)


def test_missing_columns_with_defaults_are_written_as_fastavro_does() -> None:
    table = from_avro_records([record(seq=9, fatal=True)]).drop_columns(
        ["seq", "fatal", "experiments", "oca_id"]
    )
    expected = {k: v for k, v in record().items() if k not in ("seq", "fatal", "experiments", "oca_id")}
    assert encode_events(table, SCHEMA_ID).to_pylist() == [SERDE.encode(expected)]


# -- bad messages are data ------------------------------------------------------------------------

GOOD = SERDE.encode(RECORD)
HEADER = GOOD[:5]


def _varint(value: int) -> bytes:
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zigzag >= 0x80:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    return bytes(out + bytes([zigzag]))


def _string(text: bytes) -> bytes:
    return _varint(len(text)) + text


BAD_MESSAGES = {
    "empty": (b"", "message of 0 bytes is shorter than the 5-byte Confluent header"),
    "short": (b"\x00\x00\x00", "message of 3 bytes is shorter"),
    "tombstone": (None, "no value"),
    "magic": (b"\x01" + GOOD[1:], "unknown magic byte 1"),
    "truncated": (GOOD[:-3], "the message ends inside field experiments"),
    "header only": (HEADER, "ends inside field event_id"),
    "trailing": (GOOD + b"\x00\x07", "2 bytes left after the record"),
    "long varint": (HEADER + b"\xff" * 11 + b"\x01", "varint longer than 10 bytes in field event_id"),
    "tenth byte": (HEADER + b"\xff" * 9 + b"\x02", "varint longer than 10 bytes in field event_id"),
    "negative length": (HEADER + _varint(-1), "negative length -1 in field event_id"),
    "length past end": (HEADER + _varint(1000) + b"abc", "ends inside field event_id"),
    "enum index": (HEADER + _string(b"id") + _varint(12), "enum index 12 out of range in field event_type"),
    "negative enum": (HEADER + _string(b"") + _varint(-1), "enum index -1 out of range in field event_type"),
    "bad utf-8": (GOOD.replace(b"eu-west", b"eu\xffwest"), "invalid UTF-8 in field region"),
    "cut sequence": (GOOD.replace(b"bt", b"\xed\xa0", 1), "invalid UTF-8 in field isp"),
    "surrogate": (GOOD.replace(b"oca", b"\xed\xa0\x80", 1), "invalid UTF-8 in field cdn"),
    "overlong": (GOOD.replace(b"GB", b"\xc0\xaf"), "invalid UTF-8 in field country"),
    "past U+10FFFF": (GOOD.replace(b"u0000001", b"\xf4\x90\x80\x800001"), "invalid UTF-8 in field user_id"),
    "bad map key": (
        GOOD.replace(b"abr-fast-start", b"abr-fast-sta\x80t"), "invalid UTF-8 in field experiments"
    ),
    "huge map block": (GOOD[: GOOD.rindex(b"\x02" + _string(b"abr-fast-start"))] + _varint(10**12) + b"\x00",
                       "map block of 1000000000000 entries"),
    "garbage": (b"not avro at all", "unknown magic byte 110"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_MESSAGES))
def test_a_bad_message_is_reported_and_spares_its_neighbours(case: str) -> None:
    value, message = BAD_MESSAGES[case]
    before, after = SERDE.encode(record(seq=1)), SERDE.encode(record(seq=2))
    result = decode_events([before, value, after], SCHEMA_ID)
    assert result.bad_rows.tolist() == [1]
    assert message in result.errors[0]
    assert result.rows.tolist() == [0, 2]
    assert result.table.equals(from_avro_records([record(seq=1), record(seq=2)]))


def test_a_sequence_cut_at_the_end_of_a_string_is_invalid_even_when_the_next_string_completes_it() -> None:
    # cdn "a\xc2" then, in the next message, cdn "\x80bc": side by side they would read as valid.
    cut, rest = GOOD.replace(b"\x06oca", b"\x04a\xc2"), GOOD.replace(b"\x06oca", b"\x06\x80bc")
    for columns in (None, ("event_type",)):
        result = event_codec().decode([cut, rest], SCHEMA_ID, columns=columns)
        assert result.bad_rows.tolist() == [0, 1]
        assert result.errors == ["Avro body (schema id 42) does not decode: invalid UTF-8 in field cdn"] * 2


def test_booleans_follow_fastavro_any_nonzero_byte_is_true() -> None:
    index = GOOD.rindex(b"\x00\x02" + _string(b"abr-fast-start"))  # fatal=false, then the map
    message = GOOD[:index] + b"\x05" + GOOD[index + 1 :]
    assert SERDE.decode(message)["fatal"] is True
    assert decode_events([message], SCHEMA_ID).table["fatal"].to_pylist() == [True]


def test_another_schema_id_without_a_fallback_is_a_bad_row() -> None:
    other = b"\x00\x00\x00\x00\x07" + GOOD[5:]
    result = decode_events([GOOD, other], SCHEMA_ID)
    assert result.bad_rows.tolist() == [1]
    assert result.errors == ["written with schema id 7; this decoder reads id 42"]


# -- older writers through the fallback -----------------------------------------------------------


def test_an_older_writer_goes_through_the_fallback_and_lands_in_order_with_defaults() -> None:
    v1 = published_versions()[0][1]
    v1_names = {f["name"] for f in v1["fields"]}
    old_record = {k: v for k, v in record(seq=5).items() if k in v1_names}
    old = AvroSerde(v1, schema_id=1).encode(old_record)
    reader = AvroSerde(SCHEMA, SCHEMA_ID, writer_schemas={1: v1}.__getitem__)
    unknown_id = b"\x00\x00\x00\x03\xe7" + GOOD[5:]
    values = [SERDE.encode(record(seq=1)), old, b"junk!", SERDE.encode(record(seq=3)), unknown_id, old]
    result = decode_events(values, SCHEMA_ID, fallback=reader.decode)
    assert result.rows.tolist() == [0, 1, 3, 5]
    assert result.bad_rows.tolist() == [2, 4]
    assert "unknown magic byte" in result.errors[0] and "schema id 999" in result.errors[1]
    resolved = record(seq=0, buffer_length_ms=None, content_duration_ms=None, end_reason=None, played_ms=None,
                      throughput_kbps=None)  # fmt: skip
    assert result.table.equals(from_avro_records([record(seq=1), resolved, record(seq=3), resolved]))


def test_serde_decode_batch_resolves_older_writers_and_reports_bad_messages() -> None:
    v1 = published_versions()[0][1]
    old = AvroSerde(v1, schema_id=1).encode({k: RECORD[k] for k in (f["name"] for f in v1["fields"])})
    reader = AvroSerde(SCHEMA, SCHEMA_ID, writer_schemas={1: v1}.__getitem__)
    result = reader.decode_batch([GOOD, old, GOOD[:-1]])
    assert result.rows.tolist() == [0, 1] and result.bad_rows.tolist() == [2]
    assert result.table["user_id"].to_pylist() == ["u0000001", "u0000001"]
    assert result.table["seq"].to_pylist() == [7, 0]


# -- built from the schema ------------------------------------------------------------------------


def _extended_schema() -> dict[str, Any]:
    """PlaybackEvent plus fields of every supported sort, as a later version might add them."""
    schema = copy.deepcopy(SCHEMA)
    schema["fields"] += [
        {"name": "cmcd_su", "type": ["null", "boolean"], "default": None},
        {"name": "frame_rate", "type": ["null", "double"], "default": None},
        {"name": "volume", "type": "float", "default": 1.0},
        {"name": "drm", "default": None,
         "type": ["null", {"type": "enum", "name": "Drm", "symbols": ["WIDEVINE", "PLAYREADY"]}]},
        {"name": "signature", "type": ["null", "bytes"], "default": None},
        {"name": "session_events", "type": ["long", "null"], "default": 0},
        {"name": "network", "type": {"type": "record", "name": "Network", "fields": [
            {"name": "kind", "type": {"type": "string"}, "default": "wifi"},
            {"name": "rtt_ms", "type": ["null", "int"], "default": None},
        ]}, "default": {"kind": "wifi", "rtt_ms": None}},
    ]  # fmt: skip
    return schema


LONG = st.integers(-(2**63), 2**63 - 1)
INT = st.integers(-(2**31), 2**31 - 1)
TEXT = st.text(max_size=12)

EXTENDED_RECORD = st.fixed_dictionaries(
    {
        "cmcd_su": st.none() | st.booleans(),
        "frame_rate": st.none() | st.floats(allow_nan=False),
        "volume": st.floats(width=32, allow_nan=False),
        "drm": st.none() | st.sampled_from(["WIDEVINE", "PLAYREADY"]),
        "signature": st.none() | st.binary(max_size=20),
        "session_events": st.none() | st.integers(-(2**63), 2**63 - 1),
        "network": st.fixed_dictionaries({"kind": st.text(max_size=8), "rtt_ms": st.none() | INT}),
    }
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EXTENDED_RECORD, min_size=1, max_size=8))
def test_fields_added_later_need_no_codec_change(extras: list[dict[str, Any]]) -> None:
    schema = _extended_schema()
    serde = AvroSerde(schema, SCHEMA_ID)
    codec = ColumnarCodec(schema, EVENT_FLAT_NAMES)
    records = [{**RECORD, **extra} for extra in extras]
    messages = [serde.encode(r) for r in records]
    table = codec.records_to_table(records)
    assert codec.encode(table, SCHEMA_ID).to_pylist() == messages
    assert codec.decode(messages, SCHEMA_ID).table.equals(table)
    # A producer still on the old columns writes the defaults, like fastavro does.
    old_columns = table.select(EVENT_SCHEMA.names)
    assert codec.encode(old_columns, SCHEMA_ID).to_pylist() == [
        serde.encode(r) for r in to_avro_records(old_columns)
    ]


UNSUPPORTED = {
    "array": ({"type": "array", "items": "string"}, "not supported"),
    "3-way union": (["null", "string", "long"], "union of null and one other type"),
    "union without null": (["string", "long"], "union of null and one other type"),
    "logical type": ({"type": "long", "logicalType": "timestamp-millis"}, "logical type"),
    "map of longs": ({"type": "map", "values": "long"}, "maps of string values"),
    "fixed": ({"type": "fixed", "name": "H", "size": 4}, "not supported"),
    "nullable record": (["null", {"type": "record", "name": "N", "fields": []}], "not supported"),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_an_unsupported_type_is_refused_when_the_codec_is_built(case: str) -> None:
    avro_type, refused = UNSUPPORTED[case]
    schema = copy.deepcopy(SCHEMA)
    schema["fields"].append({"name": "added", "type": avro_type})
    with pytest.raises(NotImplementedError, match=refused):
        ColumnarCodec(schema, EVENT_FLAT_NAMES)


def test_serde_stays_on_fastavro_for_a_schema_the_codec_does_not_support(simulated: pa.Table) -> None:
    schema = copy.deepcopy(SCHEMA)
    schema["fields"].append({"name": "tags", "type": {"type": "array", "items": "string"}, "default": []})
    serde = AvroSerde(schema, SCHEMA_ID)
    table = simulated.slice(0, 20)
    values = serde.encode_table(table)
    assert isinstance(values, list) and values == [serde.encode(r) for r in to_avro_records(table)]
    result = serde.decode_batch([*values, b"junk!"])
    assert result.table.equals(table.cast(EVENT_SCHEMA))
    assert result.bad_rows.tolist() == [20] and "magic byte" in result.errors[0]


def test_serde_encode_table_uses_the_codec(simulated: pa.Table) -> None:
    values = SERDE.encode_table(simulated)
    assert isinstance(values, pa.Array) and values.to_pylist() == fastavro_bytes(simulated)


# -- properties -----------------------------------------------------------------------------------


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


RECORDS = st.fixed_dictionaries(
    {
        "event_id": TEXT,
        "event_type": st.sampled_from(EVENT_TYPE_SYMBOLS),
        "event_ts_ms": LONG,
        "received_ts_ms": LONG,
        "user_id": TEXT,
        "session_id": TEXT,
        "seq": INT,
        "title_id": TEXT,
        "device": st.fixed_dictionaries(
            {"type": st.sampled_from(DEVICE_TYPES), "os": TEXT, "app_version": TEXT}
        ),
        "region": TEXT,
        "country": TEXT,
        "isp": TEXT,
        "cdn": TEXT,
        "oca_id": _optional(TEXT),
        "startup_ms": _optional(LONG),
        "rebuffer_ms": _optional(LONG),
        "bitrate_kbps": _optional(INT),
        "position_ms": _optional(LONG),
        "buffer_length_ms": _optional(LONG),
        "throughput_kbps": _optional(INT),
        "content_duration_ms": _optional(LONG),
        "played_ms": _optional(LONG),
        "end_reason": _optional(st.sampled_from([*END_REASONS, "UNKNOWN"])),
        "error_code": _optional(TEXT),
        "fatal": st.booleans(),
        "experiments": st.dictionaries(TEXT, TEXT, max_size=4),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RECORDS, min_size=1, max_size=12))
def test_random_valid_records_round_trip_both_ways(records: list[dict[str, Any]]) -> None:
    table = from_avro_records(records)
    expected = [SERDE.encode(r) for r in records]
    assert encode_events(table, SCHEMA_ID).to_pylist() == expected
    result = decode_events(expected, SCHEMA_ID)
    assert result.table.equals(table) and len(result.bad_rows) == 0


@st.composite
def _damaged(draw: st.DrawFn) -> bytes | None:
    base = SERDE.encode(draw(RECORDS))
    how = draw(st.sampled_from(["truncate", "flip", "garbage", "insert", "none", "header+garbage"]))
    if how == "truncate":
        return base[: draw(st.integers(0, len(base) - 1))]
    if how == "flip":
        at = draw(st.integers(5, len(base) - 1))
        return base[:at] + bytes([base[at] ^ draw(st.integers(1, 255))]) + base[at + 1 :]
    if how == "insert":
        at = draw(st.integers(5, len(base)))
        return base[:at] + draw(st.binary(min_size=1, max_size=4)) + base[at:]
    if how == "none":
        return None
    if how == "header+garbage":
        return HEADER + draw(st.binary(max_size=200))
    return draw(st.binary(max_size=300))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), RECORDS, _damaged()), min_size=1, max_size=10))
def test_garbage_never_crashes_and_never_touches_the_good_rows(
    items: list[tuple[bool, dict[str, Any], bytes | None]],
) -> None:
    values = [SERDE.encode(rec) if good else damaged for good, rec, damaged in items]
    result = decode_events(values, SCHEMA_ID)
    rows, bad = result.rows.tolist(), result.bad_rows.tolist()
    assert sorted(rows + bad) == list(range(len(values))) and len(result.errors) == len(bad)
    assert result.table.num_rows == len(rows)
    decoded = dict(zip(rows, result.table.to_pylist(), strict=True))
    for position, (good, rec, _) in enumerate(items):
        if good:
            assert decoded[position] == from_avro_records([rec]).to_pylist()[0]
    for position in set(rows):
        if not items[position][0]:  # damaged but still valid: fastavro must agree on what it says
            assert decoded[position] == fastavro_rows([values[position]]).to_pylist()[0]


@settings(max_examples=100, deadline=None)
@given(RECORDS, st.data())
def test_every_truncation_of_a_valid_message_is_a_bad_row(rec: dict[str, Any], data: st.DataObject) -> None:
    message = SERDE.encode(rec)
    cut = data.draw(st.integers(0, len(message) - 1))
    result = decode_events([message, message[:cut], message], SCHEMA_ID)
    assert result.bad_rows.tolist() == [1] and result.rows.tolist() == [0, 2]


def test_numpy_types_of_the_result() -> None:
    result = decode_events([GOOD, b""], SCHEMA_ID)
    assert result.rows.dtype == np.int64 and result.bad_rows.dtype == np.int64


# -- projections ----------------------------------------------------------------------------------

#: What the QoE job reads: no ids, no map; strings both kept (region) and left out (user_id).
PROJECTED = ("event_type", "event_ts_ms", "region", "oca_id", "startup_ms", "played_ms", "end_reason")


def test_a_projection_is_the_full_decode_with_fewer_columns(simulated: pa.Table) -> None:
    values = encode_events(simulated, SCHEMA_ID)
    full = decode_events(values, SCHEMA_ID)
    projected = event_codec().decode(values, SCHEMA_ID, columns=PROJECTED[::-1])
    assert projected.table.column_names == list(PROJECTED)  # schema order, whatever was asked
    assert projected.table.equals(full.table.select(list(PROJECTED)))
    assert projected.rows.tolist() == full.rows.tolist()


@pytest.mark.parametrize("case", list(BAD_MESSAGES))
def test_a_projection_refuses_the_same_messages_for_the_same_reason(case: str) -> None:
    value, message = BAD_MESSAGES[case]
    values = [SERDE.encode(record(seq=1)), value, SERDE.encode(record(seq=2))]
    result = event_codec().decode(values, SCHEMA_ID, columns=PROJECTED)
    assert result.bad_rows.tolist() == [1] and message in result.errors[0]
    assert result.errors == decode_events(values, SCHEMA_ID).errors
    assert result.table.equals(from_avro_records([record(seq=1), record(seq=2)]).select(list(PROJECTED)))


def test_a_projection_of_older_writers_resolves_them_too() -> None:
    v1 = published_versions()[0][1]
    old = AvroSerde(v1, schema_id=1).encode({k: RECORD[k] for k in (f["name"] for f in v1["fields"])})
    reader = AvroSerde(SCHEMA, SCHEMA_ID, writer_schemas={1: v1}.__getitem__)
    result = reader.decode_batch([GOOD, old, GOOD[:-1]], columns=PROJECTED)
    assert result.rows.tolist() == [0, 1] and result.bad_rows.tolist() == [2]
    assert result.table.equals(reader.decode_batch([GOOD, old]).table.select(list(PROJECTED)))


def test_an_unknown_column_is_named() -> None:
    with pytest.raises(ValueError, match=r"no such event columns \['regoin'\]"):
        event_codec().decode([GOOD], SCHEMA_ID, columns=("region", "regoin"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), RECORDS, _damaged()), min_size=1, max_size=10))
def test_a_projection_agrees_with_the_full_decode_on_any_input(
    items: list[tuple[bool, dict[str, Any], bytes | None]],
) -> None:
    values = [SERDE.encode(rec) if good else damaged for good, rec, damaged in items]
    full = decode_events(values, SCHEMA_ID)
    projected = event_codec().decode(values, SCHEMA_ID, columns=PROJECTED)
    assert projected.bad_rows.tolist() == full.bad_rows.tolist() and projected.errors == full.errors
    assert projected.table.equals(full.table.select(list(PROJECTED)))
