"""Encode and decode delimited io.prometheus.client.MetricFamily messages with Google's protobuf.

Usage:
  proto_helper.py encode [--packed]   JSON list of MetricFamily objects on stdin -> delimited bytes
  proto_helper.py decode [--lines]    delimited bytes on stdin -> JSON list on stdout (with
                                      --lines: one family per line, keys sorted, metrics in
                                      label order and the +Inf bucket a classic histogram
                                      implies written out, as neither changes the meaning)
  proto_helper.py verify FILE...      every message parses with no unknown field and re-encodes
                                      to the same bytes (proves the schema below against files
                                      written by client_golang)

tests/wire.rs uses this as an encoder independent of pushgate's hand-written decoder. The JSON is
protobuf's canonical JSON mapping (lowerCamelCase field names, enum names, "Infinity"/"NaN").

The schema is client_model's metrics.proto (proto2, package io.prometheus.client), stated here as
a descriptor built in code, because protoc may not be installed and the protobuf runtime can load
a descriptor without it. `--packed` marks the repeated scalar fields packed, which client_golang
does not do but other encoders may, so the decoder is exercised on both wire forms.
"""

import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf import timestamp_pb2  # noqa: F401  (registers google/protobuf/timestamp.proto)

F = descriptor_pb2.FieldDescriptorProto
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
TYPES = {
    "double": F.TYPE_DOUBLE,
    "string": F.TYPE_STRING,
    "uint64": F.TYPE_UINT64,
    "int64": F.TYPE_INT64,
    "sint32": F.TYPE_SINT32,
    "sint64": F.TYPE_SINT64,
    "uint32": F.TYPE_UINT32,
}
PACKABLE = {"double", "uint64", "int64", "sint32", "sint64", "uint32"}

# message -> [(label, type, name, number)]; a type not in TYPES names a message or enum.
MESSAGES = {
    "LabelPair": [(OPT, "string", "name", 1), (OPT, "string", "value", 2)],
    "Gauge": [(OPT, "double", "value", 1)],
    "Counter": [
        (OPT, "double", "value", 1),
        (OPT, "Exemplar", "exemplar", 2),
        (OPT, ".google.protobuf.Timestamp", "created_timestamp", 3),
    ],
    "Quantile": [(OPT, "double", "quantile", 1), (OPT, "double", "value", 2)],
    "Summary": [
        (OPT, "uint64", "sample_count", 1),
        (OPT, "double", "sample_sum", 2),
        (REP, "Quantile", "quantile", 3),
        (OPT, ".google.protobuf.Timestamp", "created_timestamp", 4),
    ],
    "Untyped": [(OPT, "double", "value", 1)],
    "Histogram": [
        (OPT, "uint64", "sample_count", 1),
        (OPT, "double", "sample_count_float", 4),
        (OPT, "double", "sample_sum", 2),
        (REP, "Bucket", "bucket", 3),
        (OPT, ".google.protobuf.Timestamp", "created_timestamp", 15),
        (OPT, "sint32", "schema", 5),
        (OPT, "double", "zero_threshold", 6),
        (OPT, "uint64", "zero_count", 7),
        (OPT, "double", "zero_count_float", 8),
        (REP, "BucketSpan", "negative_span", 9),
        (REP, "sint64", "negative_delta", 10),
        (REP, "double", "negative_count", 11),
        (REP, "BucketSpan", "positive_span", 12),
        (REP, "sint64", "positive_delta", 13),
        (REP, "double", "positive_count", 14),
        (REP, "Exemplar", "exemplars", 16),
    ],
    "Bucket": [
        (OPT, "uint64", "cumulative_count", 1),
        (OPT, "double", "cumulative_count_float", 4),
        (OPT, "double", "upper_bound", 2),
        (OPT, "Exemplar", "exemplar", 3),
    ],
    "BucketSpan": [(OPT, "sint32", "offset", 1), (OPT, "uint32", "length", 2)],
    "Exemplar": [
        (REP, "LabelPair", "label", 1),
        (OPT, "double", "value", 2),
        (OPT, ".google.protobuf.Timestamp", "timestamp", 3),
    ],
    "Metric": [
        (REP, "LabelPair", "label", 1),
        (OPT, "Gauge", "gauge", 2),
        (OPT, "Counter", "counter", 3),
        (OPT, "Summary", "summary", 4),
        (OPT, "Untyped", "untyped", 5),
        (OPT, "Histogram", "histogram", 7),
        (OPT, "int64", "timestamp_ms", 6),
    ],
    "MetricFamily": [
        (OPT, "string", "name", 1),
        (OPT, "string", "help", 2),
        (OPT, "MetricType", "type", 3),
        (REP, "Metric", "metric", 4),
        (OPT, "string", "unit", 5),
    ],
}
METRIC_TYPES = ["COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM"]


def metric_family_class(packed):
    """The MetricFamily message class, from a pool holding only this schema."""
    pkg = "io.prometheus.client"
    fd = descriptor_pb2.FileDescriptorProto(
        name="pushgate_test_metrics.proto",
        package=pkg,
        syntax="proto2",
        dependency=["google/protobuf/timestamp.proto"],
    )
    enum = fd.enum_type.add(name="MetricType")
    for number, name in enumerate(METRIC_TYPES):
        enum.value.add(name=name, number=number)
    for msg_name, fields in MESSAGES.items():
        msg = fd.message_type.add(name=msg_name)
        for label, ftype, name, number in fields:
            field = msg.field.add(name=name, number=number, label=label)
            if ftype in TYPES:
                field.type = TYPES[ftype]
                if packed and label == REP and ftype in PACKABLE:
                    field.options.packed = True
            elif ftype == "MetricType":
                field.type = F.TYPE_ENUM
                field.type_name = f".{pkg}.MetricType"
            else:
                field.type = F.TYPE_MESSAGE
                field.type_name = ftype if ftype.startswith(".") else f".{pkg}.{ftype}"
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{pkg}.MetricFamily"))


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_delimited(data, cls):
    """Yields (message, its raw bytes) for each length-prefixed message in data."""
    pos = 0
    while pos < len(data):
        length, shift = 0, 0
        while True:
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        raw = data[pos : pos + length]
        if len(raw) != length:
            raise ValueError(f"message at {pos} runs past the end")
        pos += length
        msg = cls()
        msg.ParseFromString(raw)
        yield msg, raw


def unknown_fields(msg):
    """Whether msg or any message inside it kept fields the schema does not name."""
    from google.protobuf import unknown_fields as uf

    if len(uf.UnknownFieldSet(msg)):
        return True
    for field, value in msg.ListFields():
        if field.type != F.TYPE_MESSAGE:
            continue
        values = value if field.is_repeated else [value]
        if any(unknown_fields(v) for v in values):
            return True
    return False


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "encode":
        cls = metric_family_class("--packed" in argv[2:])
        out = bytearray()
        for family in json.load(sys.stdin):
            body = json_format.ParseDict(family, cls()).SerializeToString()
            out += varint(len(body)) + body
        sys.stdout.buffer.write(bytes(out))
    elif cmd == "decode":
        cls = metric_family_class(False)
        data = sys.stdin.buffer.read()
        families = [json_format.MessageToDict(m) for m, _ in read_delimited(data, cls)]
        if "--lines" in argv[2:]:
            for f in families:
                f["metric"] = sorted(f.get("metric", []), key=lambda m: json.dumps(m.get("label")))
                for m in f["metric"]:
                    h = m.get("histogram", {})
                    buckets = h.get("bucket", [])
                    if buckets and buckets[-1].get("upperBound") != "Infinity":
                        count = h.get("sampleCount", "0")
                        buckets.append({"cumulativeCount": count, "upperBound": "Infinity"})
                print(json.dumps(f, sort_keys=True))
        else:
            json.dump(families, sys.stdout, indent=1)
    elif cmd == "verify":
        cls = metric_family_class(False)
        for path in argv[2:]:
            with open(path, "rb") as f:
                data = f.read()
            n = 0
            for msg, raw in read_delimited(data, cls):
                n += 1
                if unknown_fields(msg):
                    sys.exit(f"{path}: family {msg.name}: fields unknown to the schema")
                if msg.SerializeToString() != raw:
                    sys.exit(f"{path}: family {msg.name}: re-encodes differently")
            print(f"{path}: {n} families ok")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
