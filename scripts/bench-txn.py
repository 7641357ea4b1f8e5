#!/usr/bin/env python3
"""Transactional throughput and the cost of idempotence, with confluent-kafka (librdkafka) against Skein.

Three measurements, 1 KiB records, no compression, acks=all:
  plain        enable.idempotence=false, one partition (bench-vs-tansu.py's producer loop)
  idempotent   enable.idempotence=true, the same
  transactions a transactional producer committing transactions of --txn-records records each, one after the
               other (begin, produce, commit): transactions/s and records/s, with the commit latency.

Against a node it starts (release build, SKEIN_BIN to override), or a running cluster with --bootstrap:

    swift build -c release --product skein
    python3 scripts/bench-txn.py --records 200000 --transactions 300
    skein cluster up --dir /tmp/cl --base-port 39090
    python3 scripts/bench-txn.py --bootstrap 127.0.0.1:39091,127.0.0.1:39092,127.0.0.1:39093 --replicas 3
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from importlib import import_module

tansu_bench = import_module("bench-vs-tansu")


def create_topic(bootstrap, name, partitions, replicas):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, replicas)])[name].result(timeout=30)
    time.sleep(1.0 if replicas > 1 else 0.2)


def transactions(bootstrap, topic, count, per_txn):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"bench-{uuid.uuid4().hex[:8]}",
                  "linger.ms": 5, "batch.size": 1_000_000})
    p.init_transactions(60)
    value = b"x" * 1024
    commits = []
    start = time.perf_counter()
    for t in range(count):
        p.begin_transaction()
        for i in range(per_txn):
            p.produce(topic, value=value, key=str((t * per_txn + i) % 1000).encode())
        c = time.perf_counter()
        p.commit_transaction(60)
        commits.append(time.perf_counter() - c)
    elapsed = time.perf_counter() - start
    commits.sort()
    return (count / elapsed, count * per_txn / elapsed, statistics.median(commits) * 1000,
            commits[int(len(commits) * 0.99) - 1] * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", help="a running cluster (default: start a release node)")
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--transactions", type=int, default=300)
    ap.add_argument("--txn-records", type=int, default=100)
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="skein-bench-txn-"))
    proc = None
    try:
        bootstrap = args.bootstrap
        if not bootstrap:
            proc, port = tansu_bench.start_skein(workdir)
            bootstrap = f"127.0.0.1:{port}"
        results = {}
        for name, idempotence in (("plain", False), ("idempotent", True)):
            # The producer loop of bench-vs-tansu.py: one partition, one producer, untimed warm-up records first.
            topic = f"bench-{name}-{uuid.uuid4().hex[:6]}"
            results[name] = tansu_bench.produce(
                bootstrap, topic, args.records, 1024, "all", idempotence=idempotence, replicas=args.replicas,
                warmup=min(20_000, args.records))
            print(f"{name:12s} acks=all: {results[name][0]:8.1f} MB/s  {results[name][1]:10.0f} records/s")
        cost = 1 - results["idempotent"][0] / results["plain"][0]
        print(f"idempotence costs {cost * 100:.1f}% of plain acks=all throughput")
        topic = f"bench-txn-{uuid.uuid4().hex[:6]}"
        create_topic(bootstrap, topic, args.partitions, args.replicas)
        transactions(bootstrap, topic, 10, args.txn_records)  # warm-up: coordinator and partitions loaded
        tps, rps, p50, p99 = transactions(bootstrap, topic, args.transactions, args.txn_records)
        print(f"transactions of {args.txn_records} x 1 KiB: {tps:.1f} txn/s ({rps:.0f} records/s), "
              f"commit p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
