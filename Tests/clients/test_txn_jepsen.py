"""A Jepsen-style check of Kafka transactions on a 3-node cluster (mutual TLS, RF=3 topics) under SIGKILLs.

Workload (SKEIN_JEPSEN_SECONDS, default 45):
  * 3 confluent-kafka transactional producers (distinct transactional ids) loop: begin, write 1-10 records with unique
    values p{n}-t{seq}-r{i} to random partitions of two 4-partition topics, commit (80%) or abort (20%). Each
    transaction's outcome is recorded as the client saw it: committed (commit_transaction returned), aborted
    (abort_transaction returned) or unknown (an error it could not resolve; the producer is then replaced, and the new
    instance's init_transactions fences the old one). Errors are handled as confluent-kafka documents it:
    txn_requires_abort -> abort_transaction, retriable -> retry the call, fatal -> a new producer.
  * a consume-transform-produce worker: a read_committed group consumer on an input topic (filled during the run by an
    idempotent producer) and a transactional producer writing out:<input> plus the consumer's offsets in each
    transaction; on any error it aborts and rewinds the consumer to the group's committed offsets.
  * a nemesis SIGKILLs one node every ~8 s (in turn: the transaction coordinator of a transactional id, found with
    FindCoordinator key_type 1 through a live node; the group coordinator of the worker's group; the next node), keeps
    it down ~4 s and restarts it. Never two nodes down at once.
  * one read_committed reader per data topic polls throughout and records its (partition, offset) sequence.

Afterwards, with every node up, a checker reads every topic from the beginning to the high watermark with
read_committed (and read_uncommitted) and counts: duplicates, lost writes (values of transactions the client saw
committed that are missing), aborted reads (values of transactions the client saw aborted that are visible), torn
transactions (partly visible; separately for unknown outcomes), records out of order or in the wrong partition,
consume-transform-produce inconsistencies (every input record below the group's final committed offset is in the
output exactly once, none above it is), non-monotonic polls of the readers, and a last stable offset that never
reaches the high watermark. Every count must be zero, and transactions must keep committing after the kills."""
import collections
import logging
import os
import random
import re
import threading
import time
import traceback
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import txn_raw
from test_cluster import bootstrap, partition_leaders, running_cluster, wait_for

SECONDS = float(os.environ.get("SKEIN_JEPSEN_SECONDS", "45"))
CLUSTER_CONFIG = "\n[transactions]\nstate_topic_partitions = 4\nabort_check_interval_ms = 1000\n"
DATA_TOPICS = ("jepsen-a", "jepsen-b")
CTP_IN, CTP_OUT = "jepsen-in", "jepsen-out"
PARTITIONS = 4
PRODUCERS = 3
CTP_GROUP = "jepsen-ctp"
CTP_TXN_ID = "jepsen-ctp-tx"
TXN_TIMEOUT_MS = 10000
KILL_EVERY_S = 8.0
DOWN_S = 4.0
VALUE = re.compile(r"^p(\d+)-t(\d+)-r(\d+)$")


@pytest.fixture(scope="module")
def txn_cluster():
    with running_cluster(CLUSTER_CONFIG, prefix="skein-jepsen-") as nodes:
        yield nodes


class History:
    """Everything the clients saw, shared by the worker threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.txns = {}  # (producer, seq) -> {"records": [(topic, partition, value)], "outcome", "start", "end"}
        self.kills = []  # (killed at, node id, why, restarted at)
        self.crashes = []  # tracebacks of worker threads that died
        self.events = collections.Counter()  # client errors by kind, for the summary
        self.ctp_commits = []  # times of the worker's committed transactions
        self.fed = set()  # input values the feeder got acknowledged
        self.reads = {t: collections.Counter() for t in DATA_TOPICS}  # values the readers saw
        self.non_monotonic = []  # (topic, partition, previous offset, offset)
        self.offset_logs = []  # librdkafka's log lines about offset resets and truncation, for the summary

    def count(self, what):
        with self.lock:
            self.events[what] += 1


class OffsetLog(logging.Handler):
    """Keeps librdkafka's log lines about its consumer moving its position by itself -- offset resets (after
    OFFSET_OUT_OF_RANGE, or a missing committed offset) and seeks after an OffsetForLeaderEpoch answer below the
    position ("truncation"): they explain a consumer going backwards. Needs debug=fetch,topic (seeks are debug-only)."""

    def __init__(self, history, who):
        super().__init__(logging.DEBUG)
        self.history = history
        self.who = who

    def emit(self, record):
        message = record.getMessage()
        if "no previously committed offset" in message and not self.history.kills:
            return  # the worker's group starting out, not news
        if (re.match(r"(CONSUMER|OFFSET) ", message) and re.search(r"Seek |truncat|offset reset", message)
                and "(at offset BEGINNING" not in message):
            with self.history.lock:
                if len(self.history.offset_logs) < 200:
                    self.history.offset_logs.append(f"{self.who}: {message}")


def client_logger(history, who) -> logging.Logger:
    logger = logging.getLogger(f"jepsen.{who}.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(OffsetLog(history, who))
    return logger


def err_name(err) -> str:
    try:
        return err.name()
    except Exception:  # noqa: BLE001
        return str(err)


def guarded(history, name, body):
    def run():
        try:
            body()
        except BaseException:  # noqa: BLE001 - reported by the test
            with history.lock:
                history.crashes.append(f"{name}: {traceback.format_exc()}")
    return threading.Thread(target=run, name=name, daemon=True)


# --- transactional producers ----------------------------------------------------------------------------------------

class TxnClient:
    """One transactional.id and the producer instance currently using it; replaced after fatal errors."""

    def __init__(self, bs, transactional_id, history, hard_stop):
        self.bs = bs
        self.transactional_id = transactional_id
        self.history = history
        self.hard_stop = hard_stop
        self.producer = None
        self.replace()

    def _new(self):
        return Producer({"bootstrap.servers": self.bs, "transactional.id": self.transactional_id,
                         "transaction.timeout.ms": TXN_TIMEOUT_MS, "linger.ms": 2, "retry.backoff.ms": 50,
                         "topic.metadata.refresh.interval.ms": 2000})

    def replace(self):
        """Drops the current instance (if any) and initialises a new one: its InitProducerId fences the old instance
        and aborts (or completes) whatever transaction that one left open."""
        if self.producer is not None:
            try:
                self.producer.purge()
                self.producer.flush(0)
            except Exception:  # noqa: BLE001
                pass
            self.producer = None
            self.history.count("producer replaced")
        producer = self._new()
        while not self.hard_stop.is_set():
            try:
                producer.init_transactions(20)
                self.producer = producer
                return
            except KafkaException as e:
                err = e.args[0]
                self.history.count(f"init_transactions: {err_name(err)}")
                if not err.retriable() or err.fatal():
                    producer = self._new()
                time.sleep(0.2)
        raise RuntimeError(f"{self.transactional_id}: no producer before the hard stop")

    def produce(self, topic, partition, value):
        while True:
            try:
                self.producer.produce(topic, value=value.encode(), partition=partition)
                self.producer.poll(0)
                return
            except BufferError:
                self.producer.poll(0.05)

    def abort(self):
        """abort_transaction, retried while retriable: 'aborted', or 'unknown' after replacing the producer."""
        deadline = time.time() + 60
        while True:
            try:
                self.producer.abort_transaction(20)
                return "aborted"
            except KafkaException as e:
                err = e.args[0]
                self.history.count(f"abort_transaction: {err_name(err)}")
                if err.retriable() and not err.fatal() and time.time() < deadline:
                    time.sleep(0.1)
                    continue
                self.replace()
                return "unknown"

    def commit(self):
        """commit_transaction, retried while retriable: 'committed', 'aborted' (it required an abort, which
        succeeded) or 'unknown'."""
        deadline = time.time() + 60
        while True:
            try:
                self.producer.commit_transaction(20)
                return "committed"
            except KafkaException as e:
                err = e.args[0]
                self.history.count(f"commit_transaction: {err_name(err)}")
                if err.fatal():
                    self.replace()
                    return "unknown"
                if err.txn_requires_abort():
                    return self.abort()
                if err.retriable() and time.time() < deadline:
                    time.sleep(0.1)
                    continue
                self.replace()  # anything else is treated as fatal, as the documentation says
                return "unknown"

    def recover(self, err, where):
        """An error before the commit: abort (a value written may or may not be in the log, but none is committed),
        or replace the producer when fatal."""
        self.history.count(f"{where}: {err_name(err)}")
        if err.fatal():
            self.replace()
            return "unknown"
        return self.abort()


def producer_worker(bs, n, history, stop, hard_stop):
    rng = random.Random(1000 + n)
    client = TxnClient(bs, f"jepsen-p{n}", history, hard_stop)
    seq = 0
    while not stop.is_set():
        try:
            client.producer.begin_transaction()
        except KafkaException as e:
            history.count(f"begin_transaction: {err_name(e.args[0])}")
            client.replace()
            continue
        seq += 1
        records = [(rng.choice(DATA_TOPICS), rng.randrange(PARTITIONS), f"p{n}-t{seq}-r{i}")
                   for i in range(rng.randint(1, 10))]
        txn = {"records": records, "outcome": None, "start": time.time(), "end": None}
        with history.lock:
            history.txns[(n, seq)] = txn
        try:
            for topic, partition, value in records:
                client.produce(topic, partition, value)
            outcome = client.commit() if rng.random() < 0.8 else client.abort()
        except KafkaException as e:
            outcome = client.recover(e.args[0], "produce")
        txn["outcome"] = outcome
        txn["end"] = time.time()
        time.sleep(0.005)
    try:
        client.producer.close()
    except Exception:  # noqa: BLE001
        pass


# --- consume-transform-produce --------------------------------------------------------------------------------------

def ctp_worker(bs, history, stop, hard_stop, target):
    """Until `target` ({partition: end offset}, set by the test once the input is complete) is committed, or stop."""
    consumer = Consumer({"bootstrap.servers": bs, "group.id": CTP_GROUP, "enable.auto.commit": False,
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                         "session.timeout.ms": 10000, "heartbeat.interval.ms": 500, "max.poll.interval.ms": 120000,
                         "topic.metadata.refresh.interval.ms": 2000, "logger": client_logger(history, "ctp"),
                         "debug": "fetch,topic"})
    consumer.subscribe([CTP_IN])
    client = TxnClient(bs, CTP_TXN_ID, history, hard_stop)
    done = {}

    def rewind():
        """Back to the group's committed offsets: what the aborted transaction consumed is consumed again."""
        for _ in range(50):
            if hard_stop.is_set():
                return
            try:
                assignment = consumer.assignment()
                if not assignment:
                    return
                for tp in consumer.committed(assignment, timeout=10):
                    if tp.offset < 0:
                        tp.offset = OFFSET_BEGINNING
                    consumer.seek(tp)
                history.count("ctp rewind")
                return
            except KafkaException as e:
                history.count(f"ctp rewind: {err_name(e.args[0])}")
                time.sleep(0.2)
        raise RuntimeError("could not rewind the consumer to its committed offsets")

    try:
        while not stop.is_set():
            if target and all(done.get(p, 0) >= end for p, end in target.items()):
                return
            batch = []
            for m in consumer.consume(200, timeout=0.5):
                if m.error():
                    history.count(f"ctp consumer: {err_name(m.error())}")
                else:
                    batch.append(m)
            if not batch:
                if target:
                    # A transaction whose commit the client could not confirm may still have committed: ask the
                    # group (the stable offsets) whether the input is done.
                    try:
                        for tp in consumer.committed([TopicPartition(CTP_IN, p) for p in target], timeout=5):
                            done[tp.partition] = max(done.get(tp.partition, 0), tp.offset)
                    except KafkaException as e:
                        history.count(f"ctp committed: {err_name(e.args[0])}")
                continue
            ends = {}
            for m in batch:
                ends[m.partition()] = max(ends.get(m.partition(), 0), m.offset() + 1)
            try:
                client.producer.begin_transaction()
            except KafkaException as e:
                history.count(f"ctp begin_transaction: {err_name(e.args[0])}")
                client.replace()
                rewind()
                continue
            try:
                for m in batch:
                    client.produce(CTP_OUT, m.partition(), "out:" + m.value().decode())
                while True:
                    try:
                        client.producer.send_offsets_to_transaction(
                            [TopicPartition(CTP_IN, p, o) for p, o in sorted(ends.items())],
                            consumer.consumer_group_metadata(), 20)
                        break
                    except KafkaException as e:
                        err = e.args[0]
                        if err.retriable() and not err.fatal() and not err.txn_requires_abort():
                            history.count(f"ctp send_offsets_to_transaction: {err_name(err)}")
                            continue
                        raise
                outcome = client.commit()
            except KafkaException as e:
                outcome = client.recover(e.args[0], "ctp")
            if outcome == "committed":
                done.update(ends)
                with history.lock:
                    history.ctp_commits.append(time.time())
            else:
                history.count(f"ctp transaction {outcome}")
                rewind()
    finally:
        try:
            client.producer.close()
        except Exception:  # noqa: BLE001
            pass
        consumer.close()


def feeder_worker(bs, history, stop):
    """Unique input records for the worker, from an idempotent producer with acks=all."""
    producer = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": 120000, "retry.backoff.ms": 50})

    def delivered(err, msg):
        if err is None:
            with history.lock:
                history.fed.add(msg.value().decode())
        else:
            history.count(f"feeder delivery: {err_name(err)}")

    i = 0
    while not stop.is_set():
        try:
            producer.produce(CTP_IN, value=f"in-{i}".encode(), partition=i % PARTITIONS, on_delivery=delivered)
            i += 1
        except BufferError:
            pass
        producer.poll(0.01)
    producer.flush(120)


def reader_worker(bs, topic, history, stop):
    """A read_committed consumer with a fixed assignment, no seeks: offsets only ever go up per partition."""
    consumer = Consumer({"bootstrap.servers": bs, "group.id": f"jepsen-reader-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest", "topic.metadata.refresh.interval.ms": 2000,
                         "logger": client_logger(history, f"reader {topic}"), "debug": "fetch,topic"})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    last = {}
    try:
        while not stop.is_set():
            for m in consumer.consume(500, timeout=0.5):
                if m.error():
                    history.count(f"reader: {err_name(m.error())}")
                    continue
                p, o = m.partition(), m.offset()
                with history.lock:
                    if p in last and o <= last[p]:
                        history.non_monotonic.append((topic, p, last[p], o))
                    history.reads[topic][m.value().decode()] += 1
                last[p] = o
    finally:
        consumer.close()


# --- nemesis --------------------------------------------------------------------------------------------------------

def coordinator_of(nodes, key, key_type):
    for n in nodes.values():
        if not n.alive():
            continue
        try:
            error, node_id, _, _ = txn_raw.find_coordinator(n.bootstrap, key, key_type)
        except Exception:  # noqa: BLE001
            continue
        if error == 0 and node_id in nodes:
            return node_id
    return None


def nemesis_worker(nodes, history, stop):
    rng = random.Random(7)
    turn = 0
    while not stop.wait(KILL_EVERY_S - DOWN_S):
        for node in nodes.values():  # never two down: anything still down comes back first
            if not node.alive():
                node.start()
        kind = ("transaction coordinator", "group coordinator", "next node")[turn % 3]
        victim = None
        if kind == "transaction coordinator":
            key = rng.choice([f"jepsen-p{n}" for n in range(PRODUCERS)] + [CTP_TXN_ID])
            victim = coordinator_of(nodes, key, 1)
            kind = f"transaction coordinator of {key}"
        elif kind == "group coordinator":
            victim = coordinator_of(nodes, CTP_GROUP, 0)
        if victim is None:
            victim = sorted(nodes)[turn % len(nodes)]
            kind = f"{kind} (fallback: next node)" if not kind.startswith("next") else kind
        turn += 1
        killed_at = time.time()
        nodes[victim].kill()
        time.sleep(DOWN_S)
        for attempt in range(10):
            try:
                nodes[victim].start()
                break
            except RuntimeError:
                time.sleep(1)
        with history.lock:
            history.kills.append((killed_at, victim, kind, time.time()))


# --- the checker ----------------------------------------------------------------------------------------------------

def high_watermarks(bs, topic):
    c = Consumer({"bootstrap.servers": bs, "group.id": "jepsen-watermarks", "enable.auto.commit": False})
    try:
        def ask(p):
            try:
                return c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
            except KafkaException:
                return None
        return {p: wait_for(lambda: ask(p), timeout=60, interval=0.5)[1] for p in range(PARTITIONS)}
    finally:
        c.close()


def read_topic(bs, topic, isolation, timeout=90.0):
    """({partition: [(offset, value)]}, {partition: position} for partitions whose position never reached the high
    watermark)."""
    end = high_watermarks(bs, topic)
    c = Consumer({"bootstrap.servers": bs, "group.id": f"jepsen-check-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False, "isolation.level": isolation, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    out = {p: [] for p in range(PARTITIONS)}
    positions = {}
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            for m in c.consume(1000, timeout=0.5):
                if m.error():
                    continue
                out[m.partition()].append((m.offset(), m.value().decode()))
            positions = {tp.partition: tp.offset for tp in c.position([TopicPartition(topic, p)
                                                                          for p in range(PARTITIONS)])}
            if all(end[p] <= 0 or positions[p] >= end[p] for p in range(PARTITIONS)):
                return out, {}
        return out, {p: positions.get(p) for p in range(PARTITIONS) if end[p] > 0 and positions.get(p, -1) < end[p]}
    finally:
        c.close()


def check(bs, history):
    anomalies = collections.defaultdict(list)
    txns = history.txns
    where = {}  # value -> (topic, partition, txn key)
    for key, t in txns.items():
        for topic, partition, value in t["records"]:
            where[value] = (topic, partition, key)

    committed_view = collections.Counter()
    uncommitted_view = collections.Counter()
    for topic in DATA_TOPICS:
        for isolation, view in (("read_committed", committed_view), ("read_uncommitted", uncommitted_view)):
            records, stuck = read_topic(bs, topic, isolation)
            if stuck:
                anomalies[f"{isolation} position never reached the high watermark"].append((topic, stuck))
            for p, recs in records.items():
                last_seen = {}  # producer -> (seq, i) last seen in this partition
                for offset, value in recs:
                    view[value] += 1
                    origin = where.get(value)
                    if origin is None:
                        anomalies[f"unknown value ({isolation})"].append((topic, p, offset, value))
                        continue
                    if origin[:2] != (topic, p):
                        anomalies[f"value in the wrong partition ({isolation})"].append((topic, p, offset, value))
                    n, seq, i = map(int, VALUE.match(value).groups())
                    if isolation == "read_committed":
                        if n in last_seen and last_seen[n] >= (seq, i):
                            anomalies["out of order (read_committed)"].append((topic, p, offset, value))
                        last_seen[n] = (seq, i)

    for view, isolation in ((committed_view, "read_committed"), (uncommitted_view, "read_uncommitted")):
        for value, count in view.items():
            if count > 1:
                anomalies[f"duplicate ({isolation})"].append((value, count))

    outcomes = collections.Counter()
    for key, t in txns.items():
        outcome = t["outcome"] or "unknown"
        outcomes[outcome] += 1
        values = [v for _, _, v in t["records"]]
        visible = [v for v in values if committed_view[v]]
        if outcome == "committed":
            missing = [v for v in values if not committed_view[v]]
            if missing:
                anomalies["lost write"].extend(missing)
        elif outcome == "aborted":
            if visible:
                anomalies["aborted read"].extend(visible)
        if 0 < len(visible) < len(values):
            label = "torn transaction (unknown outcome)" if outcome == "unknown" else "torn transaction"
            anomalies[label].append((key, outcome, len(visible), len(values)))
        if outcome == "committed":
            absent = [v for v in values if not uncommitted_view[v]]
            if absent:
                anomalies["committed value not in the log (read_uncommitted)"].extend(absent)

    # What the readers saw while the cluster was being killed.
    for topic, seen in history.reads.items():
        for value in seen:
            origin = where.get(value)
            if origin and txns[origin[2]]["outcome"] == "aborted":
                anomalies["aborted read (live reader)"].append(value)
    anomalies["non-monotonic poll"].extend(history.non_monotonic)

    # Consume-transform-produce.
    inputs, stuck_in = read_topic(bs, CTP_IN, "read_uncommitted")
    outputs, stuck_out = read_topic(bs, CTP_OUT, "read_committed")
    raw_outputs, _ = read_topic(bs, CTP_OUT, "read_uncommitted")
    in_log = collections.Counter(v for recs in raw_outputs.values() for _, v in recs)
    if stuck_in or stuck_out:
        anomalies["ctp topic unreadable to its end"].append((stuck_in, stuck_out))
    c = Consumer({"bootstrap.servers": bs, "group.id": CTP_GROUP, "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    try:
        final = {tp.partition: tp.offset for tp in
                 c.committed([TopicPartition(CTP_IN, p) for p in range(PARTITIONS)], timeout=30)}
    finally:
        c.close()
    input_at = {}
    for p, recs in inputs.items():
        for offset, value in recs:
            input_at[value] = (p, offset)
    lost_inputs = history.fed - set(input_at)
    if lost_inputs:
        anomalies["ctp input acknowledged but missing"].extend(sorted(lost_inputs))
    out_count = collections.Counter()
    for p, recs in outputs.items():
        previous = -1
        for offset, value in recs:
            source = value[len("out:"):] if value.startswith("out:") else None
            out_count[source] += 1
            origin = input_at.get(source)
            if origin is None:
                anomalies["ctp output without an input"].append((p, offset, value))
                continue
            if origin[0] != p or origin[1] <= previous:
                anomalies["ctp output out of order"].append((p, offset, value, origin))
            previous = origin[1]
    for value, (p, offset) in input_at.items():
        below = offset < max(final.get(p, -1), 0)
        if below and out_count[value] != 1:
            # (how many copies of its output the log holds at all, aborted ones included)
            anomalies["ctp input below the committed offset not output exactly once"].append(
                (value, out_count[value], f"{in_log['out:' + value]} in the log"))
        if not below and out_count[value]:
            anomalies["ctp input above the committed offset in the output"].append((value, out_count[value]))
    ctp = {"inputs": len(input_at), "outputs": sum(out_count.values()), "committed offsets": final,
           "input ends": {p: (recs[-1][0] + 1 if recs else 0) for p, recs in inputs.items()}}
    return anomalies, outcomes, committed_view, ctp


# --- the test -------------------------------------------------------------------------------------------------------

def test_transactions_under_sigkill(txn_cluster):
    nodes = txn_cluster
    bs = bootstrap(nodes)
    admin = AdminClient({"bootstrap.servers": bs})

    def formed():
        try:
            md = admin.list_topics(timeout=5)
        except KafkaException:
            return False
        return len(md.brokers) == 3 and md.controller_id in nodes
    wait_for(formed, timeout=60, interval=0.2)
    topics = list(DATA_TOPICS) + [CTP_IN, CTP_OUT]
    for name, future in admin.create_topics(
            [NewTopic(t, num_partitions=PARTITIONS, replication_factor=3) for t in topics]).items():
        future.result(timeout=60)
    for t in topics:
        wait_for(lambda: (lambda l: len(l) == PARTITIONS and all(v > 0 for v in l.values()))(
            partition_leaders(nodes, t)), timeout=60, interval=0.2)
    for tid in [f"jepsen-p{n}" for n in range(PRODUCERS)] + [CTP_TXN_ID]:
        error = txn_raw.find_coordinator_retrying(nodes[1].bootstrap, tid, 1, timeout=60)[0]
        assert error == 0, f"no transaction coordinator for {tid}: error {error}"

    history = History()
    stop_nemesis, stop_producers, stop_feeder, stop_ctp, stop_readers = (threading.Event() for _ in range(5))
    hard_stop = threading.Event()
    target = {}
    threads = {
        "nemesis": guarded(history, "nemesis", lambda: nemesis_worker(nodes, history, stop_nemesis)),
        "feeder": guarded(history, "feeder", lambda: feeder_worker(bs, history, stop_feeder)),
        "ctp": guarded(history, "ctp", lambda: ctp_worker(bs, history, stop_ctp, hard_stop, target)),
    }
    for n in range(PRODUCERS):
        threads[f"producer-{n}"] = guarded(
            history, f"producer-{n}", lambda n=n: producer_worker(bs, n, history, stop_producers, hard_stop))
    for topic in DATA_TOPICS:
        threads[f"reader-{topic}"] = guarded(
            history, f"reader-{topic}", lambda topic=topic: reader_worker(bs, topic, history, stop_readers))

    started = time.time()
    try:
        for t in threads.values():
            t.start()
        time.sleep(SECONDS)
        stop_nemesis.set()
        threads["nemesis"].join(DOWN_S + 60)
        for node in nodes.values():
            if not node.alive():
                node.start()
        time.sleep(3)  # the workload goes on against the healed cluster for a moment
        stop_producers.set()
        stop_feeder.set()
        for name in [f"producer-{n}" for n in range(PRODUCERS)] + ["feeder"]:
            threads[name].join(150)
            assert not threads[name].is_alive(), f"{name} did not stop"
        target.update(high_watermarks(bs, CTP_IN))  # the worker stops once all of it is committed
        threads["ctp"].join(60)
        stop_ctp.set()
        stop_readers.set()
        for name in ["ctp"] + [f"reader-{topic}" for topic in DATA_TOPICS]:
            threads[name].join(60)
            assert not threads[name].is_alive(), f"{name} did not stop"
    finally:
        for e in (stop_nemesis, stop_producers, stop_feeder, stop_ctp, stop_readers):
            e.set()
        hard_stop.set()
        for node in nodes.values():
            if not node.alive():
                node.start()
    assert not history.crashes, "\n".join(history.crashes)
    run_seconds = time.time() - started

    # Settle: leaders everywhere, coordinators loaded; a fresh instance per transactional id fences whatever a
    # replaced instance may have left open (its transaction would otherwise hold the LSO until the timeout).
    for t in topics:
        wait_for(lambda: (lambda l: len(l) == PARTITIONS and all(v > 0 for v in l.values()))(
            partition_leaders(nodes, t)), timeout=60, interval=0.2)
    for tid in [f"jepsen-p{n}" for n in range(PRODUCERS)] + [CTP_TXN_ID]:
        fence = Producer({"bootstrap.servers": bs, "transactional.id": tid,
                          "transaction.timeout.ms": TXN_TIMEOUT_MS})
        wait_for(lambda: _init(fence), timeout=60, interval=0.5)
        if hasattr(fence, "close"):
            fence.close()

    anomalies, outcomes, committed_view, ctp = check(bs, history)

    first_kill = history.kills[0][0] if history.kills else None
    last_restart = history.kills[-1][3] if history.kills else None
    committed_after_kill = sum(1 for t in history.txns.values()
                               if t["outcome"] == "committed" and first_kill and t["end"] > first_kill)
    committed_after_last_restart = sum(1 for t in history.txns.values()
                                       if t["outcome"] == "committed" and last_restart and t["end"] > last_restart)
    records = sum(len(t["records"]) for t in history.txns.values())
    print(f"\n=== Jepsen transactions: {run_seconds:.0f} s, {len(history.kills)} SIGKILLs ===")
    for killed_at, victim, kind, restarted_at in history.kills:
        print(f"  +{killed_at - started:5.1f} s  killed node {victim} ({kind}), back after "
              f"{restarted_at - killed_at:.1f} s")
    print(f"  transactions: {dict(outcomes)}; {records} records; {sum(committed_view.values())} visible "
          f"read_committed; committed after the first kill: {committed_after_kill}, after the last restart: "
          f"{committed_after_last_restart}")
    print(f"  consume-transform-produce: {len(history.ctp_commits)} commits, {ctp}")
    print(f"  client errors seen: {dict(history.events.most_common(20))}")
    for line in history.offset_logs[:20]:
        print(f"  consumer moved itself: {line}")
    print(f"  anomalies: {({k: len(v) for k, v in anomalies.items() if v}) or 'none'}")
    for kind, cases in anomalies.items():
        if cases:
            print(f"    {kind}: {cases[:10]}")

    assert history.kills, "the nemesis never killed a node"
    assert not any(anomalies.values()), {k: v[:10] for k, v in anomalies.items() if v}
    assert committed_after_kill > 0 and committed_after_last_restart > 0, "no progress after the kills"
    assert any(t > first_kill for t in history.ctp_commits), "the consume-transform-produce worker made no progress"
    assert sum(max(o, 0) for o in ctp["committed offsets"].values()) > 0


def _init(producer):
    try:
        producer.init_transactions(10)
        return True
    except KafkaException as e:
        if e.args[0].fatal():
            raise
        return False
