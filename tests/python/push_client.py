"""Drive a gateway with the official Python client, one step per invocation.

Usage: push_client.py GATEWAY STEP

tests/clients.rs runs the steps in order and checks the gateway's /metrics after each, so this
script only pushes and never asserts. Every step uses the same grouping key, whose values the
client must base64-encode: the job and `path` contain '/', `empty` is empty (sent as `=`).
"""

import sys

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    delete_from_gateway,
    push_to_gateway,
    pushadd_to_gateway,
)

JOB = "py/batch"
GROUPING_KEY = {"path": "/var/tmp", "empty": "", "shard": "7"}
# A second group under the same job, so a delete is seen to remove only its own group.
OTHER_KEY = {"path": "/other"}


def full_registry():
    """One family of each type, with values the Rust test knows."""
    registry = CollectorRegistry()
    temperature = Gauge(
        "py_temperature_celsius", "Room temperature.", ["room"], registry=registry
    )
    temperature.labels(room="kitchen").set(21.5)
    jobs = Counter("py_jobs", "Jobs done.", registry=registry)
    jobs.inc(3)
    latency = Summary("py_latency_seconds", "Job latency.", registry=registry)
    latency.observe(0.25)
    latency.observe(0.75)
    size = Histogram(
        "py_size_bytes", "Job size.", buckets=(10, 100), registry=registry
    )
    for value in (5, 50, 500):
        size.observe(value)
    return registry


def partial_registry():
    """Replaces the temperature family and adds a new one; leaves the others alone."""
    registry = CollectorRegistry()
    temperature = Gauge(
        "py_temperature_celsius", "Room temperature.", ["room"], registry=registry
    )
    temperature.labels(room="hall").set(19)
    extra = Gauge("py_extra", "Added by pushadd.", registry=registry)
    extra.set(7)
    return registry


def main():
    gateway, step = sys.argv[1], sys.argv[2]
    if step == "push":
        push_to_gateway(gateway, job=JOB, registry=full_registry(), grouping_key=GROUPING_KEY)
    elif step == "push-other":
        push_to_gateway(gateway, job=JOB, registry=partial_registry(), grouping_key=OTHER_KEY)
    elif step == "pushadd":
        # gzip also exercises Content-Encoding on the push path.
        pushadd_to_gateway(
            gateway,
            job=JOB,
            registry=partial_registry(),
            grouping_key=GROUPING_KEY,
            compression="gzip",
        )
    elif step == "delete":
        delete_from_gateway(gateway, job=JOB, grouping_key=GROUPING_KEY)
    else:
        sys.exit(f"unknown step {step!r}")


if __name__ == "__main__":
    main()
