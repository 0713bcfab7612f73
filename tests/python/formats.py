"""Scrape a gateway in every exposition format and flatten each into samples with real parsers.

Usage: formats.py HOST:PORT

Fetches /metrics as text 0.0.4, OpenMetrics 1.0 and delimited protobuf, each plainly and gzip'd
(decompressed here with Python's gzip module), parses the text with prometheus_client's text
parser, OpenMetrics with its OpenMetrics parser and protobuf with Google's runtime (the schema of
proto_helper.py), and prints one line per sample:

    FORMAT<TAB>NAME<TAB>LABELS<TAB>VALUE

LABELS is `name=value` pairs sorted and joined by `,` (values JSON-quoted), `le` and `quantile`
values as floats; VALUE is Python's repr of the float. A counter's `_total` suffix is dropped from
the sample name, since whether a format shows it is the format's business. The gateway's own
metrics (go_, process_, pushgateway_, pushgate_) change between scrapes and are left out. Each
response's Content-Type and Content-Encoding are checked here.
"""

import gzip
import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

import proto_helper

OWN = ("go_", "process_", "pushgateway_", "pushgate_")
FORMATS = {
    "text": ("text/plain;version=0.0.4", "text/plain; version=0.0.4"),
    "openmetrics": (
        "application/openmetrics-text;version=1.0.0",
        "application/openmetrics-text; version=1.0.0",
    ),
    "protobuf": (
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
    ),
}


def fetch(addr, accept, content_type, compressed):
    headers = {"Accept": accept}
    if compressed:
        headers["Accept-Encoding"] = "gzip"
    req = urllib.request.Request(f"http://{addr}/metrics", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
        got = resp.headers.get("Content-Type", "")
        assert got.startswith(content_type), (accept, got)
        encoding = resp.headers.get("Content-Encoding")
        if compressed:
            assert encoding == "gzip", encoding
            return gzip.decompress(body)
        assert encoding is None, encoding
        return body


def label_text(labels):
    def value(name, v):
        return repr(float(v)) if name in ("le", "quantile") else json.dumps(v)

    return ",".join(f"{n}={value(n, v)}" for n, v in sorted(labels.items()))


def sample_name(name, family_type):
    if family_type == "counter" and name.endswith("_total"):
        return name[: -len("_total")]
    return name


def from_parser(families):
    for f in families:
        for s in f.samples:
            yield sample_name(s.name, f.type), s.labels, s.value


def from_protobuf(body):
    # A gauge histogram (5) has the samples a histogram has, as Prometheus reads it.
    types = {0: "counter", 1: "gauge", 2: "summary", 3: "untyped", 4: "histogram", 5: "histogram"}
    cls = proto_helper.metric_family_class(False)
    for f, _ in proto_helper.read_delimited(body, cls):
        name, ftype = f.name, types[f.type]
        for m in f.metric:
            labels = {p.name: p.value for p in m.label}
            if ftype in ("counter", "gauge", "untyped"):
                value = getattr(m, ftype).value
                yield sample_name(name, ftype), labels, value
            elif ftype == "summary":
                for q in m.summary.quantile:
                    yield name, {**labels, "quantile": str(q.quantile)}, q.value
                yield name + "_sum", labels, m.summary.sample_sum
                yield name + "_count", labels, m.summary.sample_count
            else:
                h = m.histogram
                for b in h.bucket:
                    count = b.cumulative_count_float or b.cumulative_count
                    yield name + "_bucket", {**labels, "le": str(b.upper_bound)}, count
                yield name + "_sum", labels, h.sample_sum
                yield name + "_count", labels, h.sample_count_float or h.sample_count


def main():
    addr = sys.argv[1]
    for fmt, (accept, content_type) in FORMATS.items():
        for compressed in (False, True):
            body = fetch(addr, accept, content_type, compressed)
            if fmt == "protobuf":
                samples = from_protobuf(body)
            else:
                text = body.decode("utf-8")
                if fmt == "openmetrics":
                    assert text.endswith("# EOF\n"), text[-40:]
                    samples = from_parser(parse_om(text))
                else:
                    samples = from_parser(parse_text(text))
            label = fmt + ("+gzip" if compressed else "")
            for name, labels, value in samples:
                if not name.startswith(OWN):
                    print(f"{label}\t{name}\t{label_text(labels)}\t{float(value)!r}")


if __name__ == "__main__":
    main()
