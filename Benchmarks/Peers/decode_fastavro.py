"""Reference decoders on the bench's messages: fastavro's schemaless_reader (its Cython build) on the Avro payloads,
and Python's json.loads on the same events' JSON, one core.

  decode_fastavro.py SCHEMA AVRO_PAYLOADS JSON_LINES [--events N]

AVRO_PAYLOADS: each payload as a 4-byte little-endian length and its bytes (the wire format's header stripped).
Prints one JSON object: {"fastavro": events/s, "fastavro_compiled": bool, "json.loads": events/s, "events": N}.
Needs: pip install fastavro  (make deps installs it)
"""
import io
import json
import struct
import sys
import time

import fastavro
import fastavro.read


def main():
    schema_path, payload_path, json_path = sys.argv[1:4]
    limit = int(sys.argv[sys.argv.index("--events") + 1]) if "--events" in sys.argv else None
    with open(schema_path) as file:
        schema = fastavro.parse_schema(json.load(file))
    payloads = []
    with open(payload_path, "rb") as file:
        data = file.read()
    position = 0
    while position < len(data) and (limit is None or len(payloads) < limit):
        (length,) = struct.unpack_from("<I", data, position)
        payloads.append(data[position + 4:position + 4 + length])
        position += 4 + length
    with open(json_path, "rb") as file:
        lines = [line for line in file.read().split(b"\n") if line][: len(payloads)]

    def best(body, passes=3):
        fastest = float("inf")
        for _ in range(passes):
            start = time.perf_counter()
            body()
            fastest = min(fastest, time.perf_counter() - start)
        return len(payloads) / fastest

    def avro():
        reader = fastavro.schemaless_reader
        for payload in payloads:
            reader(io.BytesIO(payload), schema)

    def parse_json():
        loads = json.loads
        for line in lines:
            loads(line)

    print(json.dumps({
        "events": len(payloads), "fastavro": round(best(avro)), "json.loads": round(best(parse_json)),
        # The Cython reader (fastavro._read), not the pure-Python fallback (fastavro._read_py).
        "fastavro_compiled": fastavro.read.schemaless_reader.__module__ == "fastavro._read",
    }))


if __name__ == "__main__":
    main()
