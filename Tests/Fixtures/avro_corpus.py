"""Avro written and read by fastavro, a library StreamLearn does not share code with.

  avro_corpus.py write SCHEMA_OUT CORPUS_OUT   every supported type, edge values included: one JSON line per
                                               record, {"payload": base64 of the binary encoding,
                                               "expected": what the event decoder must see, by feature name}
  avro_corpus.py check SCHEMA CORPUS PAYLOADS  decodes the base64 payload lines another encoder wrote for the
                                               corpus's "json" records and compares each with its record; prints
                                               the number that match, exits 1 on the first mismatch
"""
import base64
import datetime
import decimal
import io
import json
import math
import struct
import sys

import fastavro

SCHEMA = {
    "type": "record", "name": "Transaction", "namespace": "com.example",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "label", "type": ["null", "boolean"]},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "amount", "type": "double"},
        {"name": "name", "type": "string"},
        {"name": "channel", "type": {"type": "enum", "name": "Channel", "symbols": ["WEB", "POS", "ATM"]}},
        {"name": "maybe", "type": ["null", "double"]},
        {"name": "either", "type": ["string", "long"]},
        {"name": "merchant", "type": {"type": "record", "name": "Merchant", "fields": [
            {"name": "country", "type": "string"},
            {"name": "geo", "type": {"type": "record", "name": "Geo", "fields": [
                {"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}]}}]}},
        {"name": "device", "type": ["null", {"type": "record", "name": "Device", "fields": [
            {"name": "os", "type": "string"}, {"name": "trusted", "type": "boolean"}]}]},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
        {"name": "rate", "type": {"type": "fixed", "name": "Rate", "size": 8, "logicalType": "decimal",
                                  "precision": 18, "scale": 4}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "seen_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "raw", "type": "bytes"},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "deep", "type": {"type": "record", "name": "L1", "fields": [
            {"name": "a", "type": {"type": "record", "name": "L2", "fields": [
                {"name": "b", "type": {"type": "record", "name": "L3", "fields": [
                    {"name": "c", "type": {"type": "record", "name": "L4", "fields": [
                        {"name": "d", "type": {"type": "record", "name": "L5", "fields": [
                            {"name": "x", "type": "double"}]}}]}}]}}]}}]}},
    ],
}

I64 = (-(2 ** 63), 2 ** 63 - 1)
I32 = (-(2 ** 31), 2 ** 31 - 1)


def f32(value):
    return struct.unpack("<f", struct.pack("<f", value))[0]


def records():
    nan = float("nan")
    rows = [
        # id, label, flag, small, big, ratio, amount, name, channel, maybe, either, country, device, price, rate
        (I64[0], None, True, I32[0], I64[0], 0.0, -0.0, "", "WEB", None, "x", "", None, "0.00", "0.0000"),
        (I64[1], True, False, I32[1], I64[1], 3.4e38, 1.7976931348623157e308, "héllo ✓ 🚀", "ATM", 2.5, 7,
         "FR", {"os": "android", "trusted": True}, "-12345678.91", "123456.7890"),
        (0, False, True, 0, 0, nan, nan, "a" * 300, "POS", nan, I64[0], "日本", {"os": "", "trusted": False},
         "9999999999.99", "-0.0001"),
        (42, None, False, -1, -1, 1e-45, 5e-324, "\u0000\u001f\"\\", "WEB", -0.0, "", "US", None, "0.01", "99999.9999"),
    ]
    for index, (rid, label, flag, small, big, ratio, amount, name, channel, maybe, either, country, device,
                price, rate) in enumerate(rows):
        yield {
            "id": rid, "label": label, "ts": 1_700_000_000_000 + index, "flag": flag, "small": small, "big": big,
            "ratio": ratio, "amount": amount, "name": name, "channel": channel, "maybe": maybe, "either": either,
            "merchant": {"country": country, "geo": {"lat": 48.85 + index, "lon": -2.35 * index}},
            "device": device, "price": decimal.Decimal(price), "rate": decimal.Decimal(rate),
            "day": 19_700 - index * 20_000, "seen_us": -1_500 + index * 1_000_001, "raw": bytes([0, 65 + index, 127]),
            "hash": b"\x00\x01\x02\x03", "tags": ["a", "b"] * index, "attrs": {"k%d" % n: n for n in range(index)},
            "deep": {"a": {"b": {"c": {"d": {"x": index / 3}}}}},
        }


def number(value):
    """What a numeric feature holds: a double, or missing (None) for NaN."""
    value = float(value)
    return None if math.isnan(value) else value


def expected(record):
    seen = {
        "flag": 1.0 if record["flag"] else 0.0, "small": float(record["small"]), "big": float(record["big"]),
        "ratio": number(f32(record["ratio"])), "amount": number(record["amount"]), "name": record["name"],
        "channel": record["channel"], "maybe": None if record["maybe"] is None else number(record["maybe"]),
        "either": record["either"] if isinstance(record["either"], str) else float(record["either"]),
        "merchant.country": record["merchant"]["country"], "merchant.geo.lat": record["merchant"]["geo"]["lat"],
        "merchant.geo.lon": record["merchant"]["geo"]["lon"], "price": float(record["price"]),
        "rate": float(record["rate"]), "day": float(record["day"]), "seen_us": float(record["seen_us"]),
        "deep.a.b.c.d.x": record["deep"]["a"]["b"]["c"]["d"]["x"],
    }
    if record["device"] is not None:
        seen["device.os"] = record["device"]["os"]
        seen["device.trusted"] = 1.0 if record["device"]["trusted"] else 0.0
    # Numbers as their shortest repr, which a correctly rounding parser reads back to the same double.
    seen = {name: {"number": repr(value)} if isinstance(value, float) else value for name, value in seen.items()}
    return {
        "id": str(record["id"]), "label": None if record["label"] is None else int(record["label"]),
        "ts": record["ts"], "features": seen,
    }


def plain(record):
    """A record as plain JSON: decimals as strings, bytes as text, NaN as "NaN", dates and times as numbers."""
    def convert(key, value):
        if isinstance(value, dict):
            return {k: convert(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(key, v) for v in value]
        if isinstance(value, float):
            if key == "ratio":
                value = f32(value)
            return "NaN" if math.isnan(value) else value
        if isinstance(value, decimal.Decimal):
            return str(value)
        if isinstance(value, bytes):
            return value.decode("ascii")
        if isinstance(value, datetime.datetime):
            micros = (value - EPOCH) // datetime.timedelta(microseconds=1)
            return micros if key == "seen_us" else micros // 1000
        if isinstance(value, datetime.date):
            return (value - datetime.date(1970, 1, 1)).days
        return value
    return {k: convert(k, v) for k, v in record.items()}


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def write(schema_path, corpus_path):
    parsed = fastavro.parse_schema(SCHEMA)
    with open(schema_path, "w") as out:
        json.dump(SCHEMA, out)
    with open(corpus_path, "w") as out:
        for record in records():
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, parsed, record)
            line = {"payload": base64.b64encode(buffer.getvalue()).decode(), "expected": expected(record),
                    "json": plain(record)}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")


def check(schema_path, corpus_path, payloads_path):
    with open(schema_path) as schema_file:
        parsed = fastavro.parse_schema(json.load(schema_file))
    with open(corpus_path) as corpus, open(payloads_path) as payloads:
        originals = [json.loads(line)["json"] for line in corpus]
        written = [line.strip() for line in payloads if line.strip()]
    if len(originals) != len(written):
        sys.exit("%d records, %d payloads" % (len(originals), len(written)))
    for index, (original, payload) in enumerate(zip(originals, written)):
        record = plain(fastavro.schemaless_reader(io.BytesIO(base64.b64decode(payload)), parsed))
        mine, theirs = json.dumps(record, sort_keys=True), json.dumps(original, sort_keys=True)
        if mine != theirs:
            sys.exit("record %d differs:\n read    %s\n written %s" % (index, mine, theirs))
    print(len(written))


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](*sys.argv[2:])
