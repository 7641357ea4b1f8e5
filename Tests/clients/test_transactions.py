"""Kafka transactions (exactly-once) on one node with unmodified clients: confluent-kafka and kafka-python
transactional producers (commit, abort, fencing by a second instance, the server aborting a transaction that outlived
its timeout), read_committed consumers (aborted records skipped, control records never surfacing, an open transaction
holding back the last stable offset for everyone in its partition), consume-transform-produce with the consumer's
offsets committed inside the transaction, DescribeTransactions / ListTransactions, and the transaction coordinator's
exact error codes on a raw socket (FindCoordinator key_type 1, InitProducerId, AddPartitionsToTxn, EndTxn)."""
import threading
import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

import txn_raw
from conftest import create_topic, running_node, wait_for

TXN_CONFIG = (
    "\n[transactions]\nstate_topic_partitions = 4\nabort_check_interval_ms = 500\n"
    "\n[groups]\ninitial_rebalance_delay_ms = 0\nmin_session_timeout_ms = 1000\n"
)

# What librdkafka reports when the coordinator fenced the producer: it normalises INVALID_PRODUCER_EPOCH (47) and
# PRODUCER_FENCED (90) to the local _FENCED (-144), raised as a fatal error.
FENCED_CODES = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


@pytest.fixture(scope="module")
def txnode():
    with running_node("skein-txn-", TXN_CONFIG) as n:
        yield n


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def bounded(fn, timeout=60.0, what="call"):
    """Runs fn() in a thread and fails the test if it has not returned after `timeout` (kafka-python's transactional
    calls wait without a limit); re-raises its exception."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise AssertionError(f"{what} did not return within {timeout} s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def txn_producer(bootstrap: str, transactional_id: str | None = None, **extra) -> Producer:
    config = {"bootstrap.servers": bootstrap, "transactional.id": transactional_id or unique("tx"), "linger.ms": 5}
    config.update(extra)
    producer = Producer(config)
    producer.init_transactions(30)
    return producer


def plain_producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0})


def watermarks(bootstrap: str, topic: str, partitions, isolation: str = "read_uncommitted") -> dict:
    """{partition: high offset} through ListOffsets: the high watermark for read_uncommitted, the last stable offset
    for read_committed (librdkafka sends the consumer's isolation level)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("wm"), "isolation.level": isolation,
                  "enable.auto.commit": False})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        c.close()


def read_partitions(bootstrap: str, topic: str, partitions, isolation: str = "read_committed", end=None,
                    timeout: float = 30.0) -> dict:
    """Reads the partitions from the beginning until the consumer's position reaches `end` (default: the high
    watermarks) on every one of them: {partition: [(offset, value)]}. Fails if the position does not get there, so
    that "nothing visible" can never be the result of a consumer that simply read nothing."""
    partitions = list(partitions)
    if end is None:
        end = watermarks(bootstrap, topic, partitions)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"), "isolation.level": isolation,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    out = {p: [] for p in partitions}
    positions = {}
    deadline = time.time() + timeout
    try:
        while True:
            for m in c.consume(500, timeout=0.2):
                assert m.error() is None, f"consumer error: {m.error()}"
                out[m.partition()].append((m.offset(), m.value().decode()))
            positions = {tp.partition: tp.offset for tp in c.position([TopicPartition(topic, p) for p in partitions])}
            if all(end[p] <= 0 or positions[p] >= end[p] for p in partitions):
                return out
            if time.time() > deadline:
                raise AssertionError(f"{isolation} consumer of {topic} stuck at {positions}, wanted {end}; "
                                     f"read {out}")
    finally:
        c.close()


def values(read: dict) -> dict:
    return {p: [v for _, v in records] for p, records in read.items()}


# --- confluent-kafka: commit, abort, commit ---------------------------------------------------------------------

def test_committed_transactions_are_visible_and_aborted_ones_are_not(txnode):
    """A transaction over two topics (3 and 2 partitions) commits: read_committed sees exactly its records, per
    partition in produce order. The next transaction is aborted after its records reached the log: read_committed
    still sees only the first, read_uncommitted sees both (and no control record ever surfaces as a message; one
    offset, the commit marker, separates the two). A third, committed, transaction is visible after the aborted one."""
    bs = txnode.bootstrap
    a, b = unique("txa"), unique("txb")
    create_topic(bs, a, partitions=3)
    create_topic(bs, b, partitions=2)
    layout = {a: 3, b: 2}
    producer = txn_producer(bs)

    def transaction(tag):
        sent = {a: {p: [] for p in range(3)}, b: {p: [] for p in range(2)}}
        for topic, count in ((a, 12), (b, 8)):
            for i in range(count):
                value = f"{tag}-{i}"
                partition = i % layout[topic]
                producer.produce(topic, key=f"k{i}".encode(), value=value.encode(), partition=partition)
                sent[topic][partition].append(value)
        return sent

    producer.begin_transaction()
    first = transaction("c1")
    producer.commit_transaction(30)
    for topic, parts in layout.items():
        assert values(read_partitions(bs, topic, range(parts))) == first[topic]

    producer.begin_transaction()
    aborted = transaction("ab")
    assert producer.flush(30) == 0  # on the broker before the abort
    for topic, parts in layout.items():
        seen = values(read_partitions(bs, topic, range(parts), "read_uncommitted"))
        assert seen == {p: first[topic][p] + aborted[topic][p] for p in range(parts)}
    producer.abort_transaction(30)

    for topic, parts in layout.items():
        assert values(read_partitions(bs, topic, range(parts))) == first[topic], "aborted records visible"
        raw = read_partitions(bs, topic, range(parts), "read_uncommitted")
        assert values(raw) == {p: first[topic][p] + aborted[topic][p] for p in range(parts)}
        high = watermarks(bs, topic, range(parts))
        for p, records in raw.items():
            offsets = [o for o, _ in records]
            n, o0 = len(first[topic][p]), offsets[0]
            assert offsets[:n] == list(range(o0, o0 + n)), f"{topic}/{p}: first transaction at {offsets[:n]}"
            assert offsets[n] == o0 + n + 1, f"{topic}/{p}: the commit marker should take exactly offset {o0 + n}"
            assert offsets[n:] == list(range(o0 + n + 1, o0 + n + 1 + len(aborted[topic][p])))
            assert high[p] == offsets[-1] + 2, f"{topic}/{p}: the abort marker should end the log"

    producer.begin_transaction()
    third = transaction("c3")
    producer.commit_transaction(30)
    for topic, parts in layout.items():
        assert values(read_partitions(bs, topic, range(parts))) == \
            {p: first[topic][p] + third[topic][p] for p in range(parts)}
        assert values(read_partitions(bs, topic, range(parts), "read_uncommitted")) == \
            {p: first[topic][p] + aborted[topic][p] + third[topic][p] for p in range(parts)}
        # With no transaction open, the last stable offset is the high watermark.
        assert watermarks(bs, topic, range(parts), "read_committed") == watermarks(bs, topic, range(parts))


# --- the last stable offset ---------------------------------------------------------------------------------------

def test_an_open_transaction_holds_back_read_committed_at_its_first_offset(txnode):
    """An open transaction's records are invisible to read_committed, and so is everything after them in that
    partition, whoever wrote it: the last stable offset stays at the transaction's first offset (ListOffsets with
    read_committed reports it) until the commit, while another partition flows freely. After the commit all of it
    is delivered, in log order."""
    bs = txnode.bootstrap
    topic = unique("lso")
    create_topic(bs, topic, partitions=2)
    b0, b1 = watermarks(bs, topic, (0, 1)).values()  # (0 unless the log starts with something of its own)
    plain = plain_producer(bs)
    plain.produce(topic, value=b"before-0", partition=0)
    assert plain.flush(30) == 0

    open_txn = txn_producer(bs)
    open_txn.begin_transaction()
    open_txn.produce(topic, value=b"open-0", partition=0)
    open_txn.produce(topic, value=b"open-1", partition=0)
    assert open_txn.flush(30) == 0
    for i in range(5):
        plain.produce(topic, value=f"after-{i}".encode(), partition=0)
        plain.produce(topic, value=f"free-{i}".encode(), partition=1)
    assert plain.flush(30) == 0

    assert watermarks(bs, topic, (0, 1)) == {0: b0 + 8, 1: b1 + 5}
    assert watermarks(bs, topic, (0, 1), "read_committed") == {0: b0 + 1, 1: b1 + 5}, \
        "the last stable offset of partition 0 must be the open transaction's first offset"

    consumer = Consumer({"bootstrap.servers": bs, "group.id": unique("lso-reader"), "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING), TopicPartition(topic, 1, OFFSET_BEGINNING)])
    got = {0: [], 1: []}

    def poll_for(seconds, until=None):
        deadline = time.time() + seconds
        while time.time() < deadline and not (until and until()):
            for m in consumer.consume(100, timeout=0.2):
                assert m.error() is None, m.error()
                got[m.partition()].append(m.value().decode())

    try:
        poll_for(4)  # long enough for many fetches
        assert got[1] == [f"free-{i}" for i in range(5)], "a partition without an open transaction is held back"
        assert got[0] == ["before-0"], f"read past the open transaction: {got[0]}"

        open_txn.commit_transaction(30)
        expected = ["before-0", "open-0", "open-1"] + [f"after-{i}" for i in range(5)]
        poll_for(15, until=lambda: len(got[0]) >= len(expected))
        poll_for(0.5)  # nothing more may come
        assert got[0] == expected
        assert got[1] == [f"free-{i}" for i in range(5)]
    finally:
        consumer.close()
    # Commit marker at offset 8: the stable offset catches up with the high watermark.
    assert wait_for(lambda: watermarks(bs, topic, (0,), "read_committed") == {0: b0 + 9} and
                    watermarks(bs, topic, (0,)) == {0: b0 + 9}, timeout=10)


# --- consume-transform-produce ------------------------------------------------------------------------------------

def test_consume_transform_produce_commits_the_offsets_with_the_output(txnode):
    """A group consumer (read_committed, no auto-commit) reads the input; a transactional producer writes one output
    record per input record and sends the consumer's offsets in the transaction. After the commit the output holds
    each record once and the group's committed offsets are the input's end. A round that is aborted leaves both the
    output and the committed offsets as they were; rewinding to the committed offsets and redoing the round (the
    exactly-once recovery) produces each of its records once."""
    bs = txnode.bootstrap
    src, dst = unique("ctp-in"), unique("ctp-out")
    create_topic(bs, src, partitions=3)
    create_topic(bs, dst, partitions=3)
    group = unique("ctp-group")
    feeder = plain_producer(bs)

    def feed(prefix, count):
        for i in range(count):
            feeder.produce(src, value=f"{prefix}-{i}".encode(), partition=i % 3)
        assert feeder.flush(30) == 0
        return {p: [f"{prefix}-{i}" for i in range(count) if i % 3 == p] for p in range(3)}

    consumer = Consumer({"bootstrap.servers": bs, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    consumer.subscribe([src])
    tid = unique("ctp-tx")
    producer = txn_producer(bs, tid)

    def consume(n, timeout=60):
        got = []
        deadline = time.time() + timeout
        while len(got) < n and time.time() < deadline:
            m = consumer.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m)
        assert len(got) == n, f"consumed {len(got)} of {n}"
        return got

    def transform(batch, commit):
        producer.begin_transaction()
        for m in batch:
            producer.produce(dst, value=b"out:" + m.value(), partition=m.partition())
        ends = {}
        for m in batch:
            ends[m.partition()] = max(ends.get(m.partition(), 0), m.offset() + 1)
        producer.send_offsets_to_transaction([TopicPartition(src, p, o) for p, o in sorted(ends.items())],
                                             consumer.consumer_group_metadata(), 30)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)

    def committed():
        tps = consumer.committed([TopicPartition(src, p) for p in range(3)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}

    try:
        first = feed("in1", 60)
        batch = consume(60)
        assert sorted(m.value().decode() for m in batch) == sorted(v for vs in first.values() for v in vs)
        transform(batch, commit=True)
        end1 = watermarks(bs, src, range(3))
        assert wait_for(lambda: committed() == end1, timeout=15)
        assert values(read_partitions(bs, dst, range(3))) == {p: [f"out:{v}" for v in first[p]] for p in range(3)}

        second = feed("in2", 30)
        batch = consume(30)
        transform(batch, commit=False)
        assert committed() == end1, "an aborted transaction's offsets were committed"
        assert values(read_partitions(bs, dst, range(3))) == {p: [f"out:{v}" for v in first[p]] for p in range(3)}
        # Once the coordinator finished the abort (every marker written, __consumer_offsets' too), the offsets
        # must still be the old ones.
        wait_for(lambda: txn_raw.describe_transactions(bs, [tid])[tid]["state"] == "CompleteAbort", timeout=30)
        assert committed() == end1, "an aborted transaction's offsets showed up late"

        # Exactly-once recovery: back to the committed offsets, and the same round again.
        for tp in consumer.committed([TopicPartition(src, p) for p in range(3)], timeout=10):
            consumer.seek(tp)
        batch = consume(30)
        assert sorted(m.value().decode() for m in batch) == sorted(v for vs in second.values() for v in vs)
        transform(batch, commit=True)
        end2 = watermarks(bs, src, range(3))
        assert all(end2[p] == end1[p] + 10 for p in range(3))
        assert wait_for(lambda: committed() == end2, timeout=15)
        out = values(read_partitions(bs, dst, range(3)))
        assert out == {p: [f"out:{v}" for v in first[p] + second[p]] for p in range(3)}
    finally:
        consumer.close()


# --- fencing --------------------------------------------------------------------------------------------------------

def test_a_new_instance_with_the_same_transactional_id_fences_the_old_one(txnode):
    """Producer A begins a transaction and writes; producer B with the same transactional.id calls
    init_transactions, which aborts A's transaction and bumps the epoch. A's commit then fails with a fatal fenced
    error, A's records are never visible to read_committed (but are in the log, aborted), and B's transactions
    commit."""
    bs = txnode.bootstrap
    topic = unique("fence")
    create_topic(bs, topic, partitions=1)
    tid = unique("fenced-id")
    a = txn_producer(bs, tid)
    a.begin_transaction()
    for i in range(3):
        a.produce(topic, value=f"a-{i}".encode(), partition=0)
    assert a.flush(30) == 0

    b = txn_producer(bs, tid)
    with pytest.raises(KafkaException) as raised:
        a.commit_transaction(15)
    err = raised.value.args[0]
    assert err.fatal() and err.code() in FENCED_CODES, f"expected a fatal fenced error, got {err!r}"

    b.begin_transaction()
    b.produce(topic, value=b"b-0", partition=0)
    b.produce(topic, value=b"b-1", partition=0)
    b.commit_transaction(30)
    assert values(read_partitions(bs, topic, (0,))) == {0: ["b-0", "b-1"]}
    assert values(read_partitions(bs, topic, (0,), "read_uncommitted")) == {0: ["a-0", "a-1", "a-2", "b-0", "b-1"]}


# --- the coordinator aborts a transaction that outlived its timeout -------------------------------------------------

def test_a_transaction_past_its_timeout_is_aborted_by_the_coordinator(txnode):
    """A producer with transaction.timeout.ms=2000 writes in a transaction and then goes quiet (still alive). The
    coordinator aborts it on its own (abort_check_interval_ms=500): the last stable offset moves past it, so later
    non-transactional records in the same partition reach a read_committed consumer within seconds while the stale
    transaction's records never do; the old producer's commit then fails."""
    bs = txnode.bootstrap
    topic = unique("timeout")
    create_topic(bs, topic, partitions=1)
    base = watermarks(bs, topic, (0,))[0]
    slow_id = unique("slow")
    slow = txn_producer(bs, slow_id, **{"transaction.timeout.ms": 2000})
    plain = plain_producer(bs)
    slow.begin_transaction()
    started = time.time()
    slow.produce(topic, value=b"stale-0", partition=0)
    slow.produce(topic, value=b"stale-1", partition=0)
    assert slow.flush(30) == 0
    for i in range(3):
        plain.produce(topic, value=f"later-{i}".encode(), partition=0)
    assert plain.flush(30) == 0
    def state():
        return txn_raw.describe_transactions(bs, [slow_id])[slow_id]["state"]
    lso = watermarks(bs, topic, (0,), "read_committed")[0]
    if state() == "Ongoing":
        # Still open after the LSO was read, so open when it was: it holds the LSO at its first record.
        assert lso == base, f"the open transaction should hold the last stable offset at {base}, not {lso}"
    else:  # a slow machine: the coordinator already aborted it (the LSO is then past the abort marker)
        assert lso == base + 6, lso
    # The coordinator aborts it on its own (the producer stays silent): the positive signal that it acted.
    wait_for(lambda: state() == "CompleteAbort", timeout=30, message="the coordinator never aborted the transaction")

    consumer = Consumer({"bootstrap.servers": bs, "group.id": unique("timeout-reader"), "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    try:
        deadline = started + 20
        while time.time() < deadline and len(got) < 3:
            for m in consumer.consume(100, timeout=0.2):
                assert m.error() is None, m.error()
                got.append(m.value().decode())
        released = time.time() - started
    finally:
        consumer.close()
    assert got == ["later-0", "later-1", "later-2"], f"read_committed got {got} after {time.time() - started:.1f} s"
    print(f"\ntimed-out transaction aborted by the coordinator; later records visible after {released:.2f} s")

    with pytest.raises(KafkaException) as raised:
        slow.commit_transaction(15)
    err = raised.value.args[0]
    assert not err.retriable(), f"the commit of an aborted transaction must fail for good, got {err!r}"
    assert values(read_partitions(bs, topic, (0,))) == {0: ["later-0", "later-1", "later-2"]}
    # stale-0, stale-1, later-0..2, then the coordinator's abort marker.
    assert watermarks(bs, topic, (0,)) == {0: base + 6}
    del slow


# --- kafka-python -------------------------------------------------------------------------------------------------

def kp_read(bootstrap, topic, partitions, isolation="read_committed", timeout=30.0):
    """kafka-python KafkaConsumer reading from the beginning to its end offsets: {partition: [value]}."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False,
                             group_id=None, auto_offset_reset="earliest")
    try:
        tps = [KTP(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps, timeout_ms=10000)
        out = {p: [] for p in partitions}
        deadline = time.time() + timeout
        while any(consumer.position(tp, timeout_ms=10000) < end[tp] for tp in tps):
            assert time.time() < deadline, f"kafka-python {isolation} consumer stuck before {end}"
            for tp, records in consumer.poll(timeout_ms=200).items():
                out[tp.partition].extend(r.value.decode() for r in records)
        return out
    finally:
        consumer.close()


def test_kafka_python_transactional_producer_commit_and_abort(txnode):
    """kafka-python's KafkaProducer(transactional_id=...): init_transactions, a committed transaction, an aborted
    one, another committed one. kafka-python's and confluent-kafka's read_committed consumers see exactly the
    committed records in order; read_uncommitted sees all three transactions."""
    from kafka import KafkaProducer

    bs = txnode.bootstrap
    topic = unique("kp-tx")
    create_topic(bs, topic, partitions=2)
    producer = KafkaProducer(bootstrap_servers=bs, transactional_id=unique("kp"), linger_ms=5, max_block_ms=30000)
    try:
        bounded(producer.init_transactions, 60, "init_transactions")
        sent = {}

        def transaction(tag, commit):
            producer.begin_transaction()
            futures = []
            for i in range(10):
                value = f"{tag}-{i}"
                futures.append(producer.send(topic, key=f"k{i}".encode(), value=value.encode(), partition=i % 2))
                sent.setdefault(tag, {0: [], 1: []})[i % 2].append(value)
            if commit:
                bounded(producer.commit_transaction, 60, "commit_transaction")
            else:
                bounded(lambda: producer.flush(30), 60, "flush")
                bounded(producer.abort_transaction, 60, "abort_transaction")
            for f in futures:
                metadata = f.get(timeout=10)
                assert metadata.offset >= 0

        transaction("kc1", commit=True)
        transaction("ka", commit=False)
        transaction("kc2", commit=True)
    finally:
        producer.close(timeout=10)

    committed = {p: sent["kc1"][p] + sent["kc2"][p] for p in (0, 1)}
    everything = {p: sent["kc1"][p] + sent["ka"][p] + sent["kc2"][p] for p in (0, 1)}
    assert kp_read(bs, topic, (0, 1)) == committed
    assert kp_read(bs, topic, (0, 1), "read_uncommitted") == everything
    assert values(read_partitions(bs, topic, (0, 1))) == committed


def test_kafka_python_send_offsets_to_transaction(txnode):
    """kafka-python consume-transform-produce: a KafkaConsumer group (read_committed) reads the input, a transactional
    KafkaProducer writes the output and send_offsets_to_transaction(offsets, consumer.group_metadata()); after the
    commit the group's committed offsets are the input's end and the output holds each record once."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata

    if not hasattr(KafkaProducer, "send_offsets_to_transaction"):
        pytest.skip("this kafka-python has no send_offsets_to_transaction")
    bs = txnode.bootstrap
    src, dst = unique("kp-in"), unique("kp-out")
    create_topic(bs, src, partitions=2)
    create_topic(bs, dst, partitions=2)
    feeder = plain_producer(bs)
    inputs = {0: [], 1: []}
    for i in range(20):
        feeder.produce(src, value=f"kin-{i}".encode(), partition=i % 2)
        inputs[i % 2].append(f"kin-{i}")
    assert feeder.flush(30) == 0

    group = unique("kp-group")
    consumer = KafkaConsumer(src, bootstrap_servers=bs, group_id=group, enable_auto_commit=False,
                             isolation_level="read_committed", auto_offset_reset="earliest",
                             session_timeout_ms=6000, heartbeat_interval_ms=500)
    producer = KafkaProducer(bootstrap_servers=bs, transactional_id=unique("kp-ctp"), linger_ms=5, max_block_ms=30000)
    try:
        records = []
        deadline = time.time() + 60
        while len(records) < 20 and time.time() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        assert sorted(r.value.decode() for r in records) == sorted(inputs[0] + inputs[1])

        bounded(producer.init_transactions, 60, "init_transactions")
        producer.begin_transaction()
        for r in records:
            producer.send(dst, value=b"out:" + r.value, partition=r.partition)
        offsets = {}
        for r in records:
            tp = KTP(src, r.partition)
            offsets[tp] = OffsetAndMetadata(max(offsets[tp].offset if tp in offsets else 0, r.offset + 1), "", -1)
        metadata = consumer.group_metadata()
        bounded(lambda: producer.send_offsets_to_transaction(offsets, metadata), 60, "send_offsets_to_transaction")
        bounded(producer.commit_transaction, 60, "commit_transaction")

        end = watermarks(bs, src, (0, 1))
        assert wait_for(lambda: all(consumer.committed(KTP(src, p)) == end[p] for p in (0, 1)), timeout=15)
    finally:
        producer.close(timeout=10)
        consumer.close()
    assert values(read_partitions(bs, dst, (0, 1))) == {p: [f"out:{v}" for v in inputs[p]] for p in (0, 1)}


# --- DescribeTransactions / ListTransactions ------------------------------------------------------------------------

def _admin_views(bs):
    """(describe(tid) -> dict, list(**filters) -> [(tid, pid, state)], not_found_error) through kafka-python's
    KafkaAdminClient when it has the transaction APIs, else through the raw protocol."""
    from kafka.admin import KafkaAdminClient

    if hasattr(KafkaAdminClient, "describe_transactions") and hasattr(KafkaAdminClient, "list_transactions"):
        import kafka.errors

        admin = KafkaAdminClient(bootstrap_servers=bs)

        def describe(tid):
            d = admin.describe_transactions([tid])[tid]
            return {"state": getattr(d.state, "value", d.state), "producer_id": d.producer_id,
                    "epoch": d.producer_epoch, "timeout_ms": d.transaction_timeout_ms,
                    "start_ms": d.transaction_start_time_ms,
                    "partitions": {(tp.topic, tp.partition) for tp in d.topic_partitions}}

        def listing(state_filters=None, producer_id_filters=None):
            found = admin.list_transactions(state_filters=state_filters, producer_id_filters=producer_id_filters)
            return [(t.transactional_id, t.producer_id, getattr(t.state, "value", t.state))
                    for rows in found.values() for t in rows]

        return describe, listing, kafka.errors.TransactionalIdNotFoundError, admin.close

    def describe(tid):
        d = txn_raw.describe_transactions(bs, [tid])[tid]
        if d["error"] == txn_raw.TRANSACTIONAL_ID_NOT_FOUND:
            raise LookupError(tid)
        assert d["error"] == 0, d
        return d

    def listing(state_filters=None, producer_id_filters=None):
        error, unknown, rows = txn_raw.list_transactions(bs, state_filters or (), producer_id_filters or ())
        assert error == 0 and not unknown
        return rows

    return describe, listing, LookupError, lambda: None


def test_describe_and_list_transactions_follow_a_transaction(txnode):
    """DescribeTransactions and ListTransactions (kafka-python's admin client) through a transaction's life: Empty
    after init_transactions (epoch 0, the configured timeout), Ongoing with exactly the partitions written and a
    start time once records are produced, CompleteCommit after the commit; ListTransactions filters by state and by
    producer id; an unknown transactional id is TRANSACTIONAL_ID_NOT_FOUND."""
    bs = txnode.bootstrap
    topic = unique("describe")
    create_topic(bs, topic, partitions=3)
    tid = unique("described")
    describe, listing, not_found, close = _admin_views(bs)
    try:
        producer = txn_producer(bs, tid, **{"transaction.timeout.ms": 45000})
        d = describe(tid)
        assert d["state"] == "Empty" and d["epoch"] == 0 and d["producer_id"] >= 0 and d["timeout_ms"] == 45000, d
        assert not d["partitions"]
        pid = d["producer_id"]

        before = int(time.time() * 1000)
        producer.begin_transaction()
        producer.produce(topic, value=b"x", partition=0)
        producer.produce(topic, value=b"y", partition=2)
        assert producer.flush(30) == 0
        d = describe(tid)
        assert d["state"] == "Ongoing" and d["producer_id"] == pid and d["epoch"] == 0, d
        assert d["partitions"] == {(topic, 0), (topic, 2)}, d
        assert before - 5000 <= d["start_ms"] <= int(time.time() * 1000) + 5000, d

        assert (tid, pid, "Ongoing") in listing()
        assert (tid, pid, "Ongoing") in listing(state_filters=["Ongoing"])
        assert tid not in {t for t, _, _ in listing(state_filters=["CompleteCommit"])}
        assert [row for row in listing(producer_id_filters=[pid])] == [(tid, pid, "Ongoing")]

        producer.commit_transaction(30)
        d = wait_for(lambda: (lambda d: d["state"] == "CompleteCommit" and d)(describe(tid)), timeout=10)
        assert d["producer_id"] == pid and not d["partitions"], d
        assert (tid, pid, "CompleteCommit") in listing(state_filters=["CompleteCommit"])

        with pytest.raises(not_found):
            describe(unique("never-used"))
    finally:
        close()


# --- raw protocol: exact error codes --------------------------------------------------------------------------------

def settled(call, timeout=30.0):
    """A raw call about a transactional id not used before, repeated while the coordinator's state partition for it
    is still loading or moving (14/15/16), as a client would."""
    deadline = time.time() + timeout
    while True:
        result = call()
        error = result[0] if isinstance(result, tuple) else result
        if error not in txn_raw.COORDINATOR_RETRIABLE or time.time() > deadline:
            return result
        time.sleep(0.1)


def test_raw_find_coordinator_for_a_transactional_id_is_this_node(txnode):
    """FindCoordinator v1 with key_type 1 (transaction): this node, error 0 (after COORDINATOR_NOT_AVAILABLE /
    COORDINATOR_LOAD_IN_PROGRESS for at most the first moments)."""
    error, node_id, host, port = txn_raw.find_coordinator_retrying(txnode.bootstrap, unique("fc"), 1)
    assert (error, node_id, host, port) == (0, 1, "127.0.0.1", txnode.port)
    # The group coordinator (key_type 0) still answers as before.
    assert txn_raw.find_coordinator_retrying(txnode.bootstrap, unique("g"), 0)[:2] == (0, 1)


def test_raw_init_producer_id_bumps_the_epoch_of_a_transactional_id(txnode):
    """InitProducerId with a transactional id: the same producer id every time, the epoch one higher each time;
    another transactional id and an idempotent producer get other ids. KIP-360 (v3+): with the current id and epoch
    the epoch is bumped, a retry with the previous epoch gets the same answer again, an older epoch is fenced
    (INVALID_PRODUCER_EPOCH below v4, PRODUCER_FENCED from v4). Timeouts above transaction.max.timeout.ms or not
    positive are INVALID_TRANSACTION_TIMEOUT."""
    bs = txnode.bootstrap
    tid = unique("ipid")
    e1, pid, epoch1 = txn_raw.init_producer_id_retrying(bs, tid)
    assert (e1, epoch1) == (0, 0) and pid >= 0
    e2, pid2, epoch2 = txn_raw.init_producer_id_retrying(bs, tid)
    assert (e2, pid2, epoch2) == (0, pid, 1)
    e3, other, _ = txn_raw.init_producer_id_retrying(bs, unique("ipid"))
    assert e3 == 0 and other != pid
    e4, idempotent, _ = txn_raw.init_producer_id(bs, None)
    assert e4 == 0 and idempotent not in (pid, other)

    assert txn_raw.init_producer_id(bs, tid, version=3, producer_id=pid, epoch=1) == (0, pid, 2)
    assert txn_raw.init_producer_id(bs, tid, version=3, producer_id=pid, epoch=1) == (0, pid, 2), \
        "a retried bump (previous epoch) must get the same answer"
    assert txn_raw.init_producer_id(bs, tid, version=3, producer_id=pid, epoch=0)[0] == txn_raw.INVALID_PRODUCER_EPOCH
    assert txn_raw.init_producer_id(bs, tid, version=4, producer_id=pid, epoch=0)[0] == txn_raw.PRODUCER_FENCED
    assert txn_raw.init_producer_id(bs, tid, version=4, producer_id=pid, epoch=2) == (0, pid, 3)

    assert settled(lambda: txn_raw.init_producer_id(bs, unique("ipid"), timeout_ms=900001))[0] == \
        txn_raw.INVALID_TRANSACTION_TIMEOUT
    assert settled(lambda: txn_raw.init_producer_id(bs, unique("ipid"), timeout_ms=0))[0] == \
        txn_raw.INVALID_TRANSACTION_TIMEOUT


def test_raw_end_txn_and_add_partitions_error_codes(txnode):
    """EndTxn with another producer id or an unknown transactional id is INVALID_PRODUCER_ID_MAPPING; with no
    transaction in progress INVALID_TXN_STATE. AddPartitionsToTxn with a stale epoch is PRODUCER_FENCED (v3) /
    INVALID_PRODUCER_EPOCH (v1); with an unknown topic or partition that one is UNKNOWN_TOPIC_OR_PARTITION and the rest
    OPERATION_NOT_ATTEMPTED; with the current epoch it succeeds and DescribeTransactions shows the partitions. EndTxn
    with a stale epoch is PRODUCER_FENCED (v3) / INVALID_PRODUCER_EPOCH (v1); the commit succeeds, writes a marker to
    each partition, is idempotent when retried, and cannot be turned into an abort."""
    bs = txnode.bootstrap
    topic = unique("raw")
    create_topic(bs, topic, partitions=2)
    base = watermarks(bs, topic, (0, 1))
    tid = unique("raw-tx")
    _, pid, stale = txn_raw.init_producer_id_retrying(bs, tid)
    error, pid2, epoch = txn_raw.init_producer_id_retrying(bs, tid)
    assert error == 0 and pid2 == pid and epoch == stale + 1

    assert txn_raw.end_txn(bs, tid, pid + 1000, epoch, True) == txn_raw.INVALID_PRODUCER_ID_MAPPING
    assert settled(lambda: txn_raw.end_txn(bs, unique("unknown-tx"), pid, epoch, True)) == \
        txn_raw.INVALID_PRODUCER_ID_MAPPING
    assert txn_raw.end_txn(bs, tid, pid, epoch, True) == txn_raw.INVALID_TXN_STATE, "commit with nothing begun"

    both = {topic: [0, 1]}
    assert txn_raw.add_partitions_to_txn(bs, tid, pid, stale, both, version=3) == \
        {(topic, 0): txn_raw.PRODUCER_FENCED, (topic, 1): txn_raw.PRODUCER_FENCED}
    assert txn_raw.add_partitions_to_txn(bs, tid, pid, stale, both, version=1) == \
        {(topic, 0): txn_raw.INVALID_PRODUCER_EPOCH, (topic, 1): txn_raw.INVALID_PRODUCER_EPOCH}
    assert set(txn_raw.add_partitions_to_txn(bs, tid, pid + 1000, epoch, both).values()) == \
        {txn_raw.INVALID_PRODUCER_ID_MAPPING}
    missing = unique("no-such-topic")
    assert txn_raw.add_partitions_to_txn(bs, tid, pid, epoch, {topic: [0, 7], missing: [0]}) == {
        (topic, 0): txn_raw.OPERATION_NOT_ATTEMPTED, (topic, 7): txn_raw.UNKNOWN_TOPIC_OR_PARTITION,
        (missing, 0): txn_raw.UNKNOWN_TOPIC_OR_PARTITION}
    assert txn_raw.add_partitions_to_txn(bs, tid, pid, epoch, both) == {(topic, 0): 0, (topic, 1): 0}
    described = txn_raw.describe_transactions(bs, [tid])[tid]
    assert described["error"] == 0 and described["state"] == "Ongoing", described
    assert described["partitions"] == {(topic, 0), (topic, 1)} and described["producer_id"] == pid

    assert txn_raw.end_txn(bs, tid, pid, stale, True, version=3) == txn_raw.PRODUCER_FENCED
    assert txn_raw.end_txn(bs, tid, pid, stale, True, version=1) == txn_raw.INVALID_PRODUCER_EPOCH
    assert txn_raw.end_txn(bs, tid, pid, epoch, True) == 0
    # A retried commit is answered with success (CONCURRENT_TRANSACTIONS while the markers are being written).
    wait_for(lambda: txn_raw.end_txn(bs, tid, pid, epoch, True) != txn_raw.CONCURRENT_TRANSACTIONS, timeout=10)
    assert txn_raw.end_txn(bs, tid, pid, epoch, True) == 0
    assert txn_raw.end_txn(bs, tid, pid, epoch, False) == txn_raw.INVALID_TXN_STATE, "abort after commit"
    # The coordinator wrote a commit marker (one control record) to each partition of the transaction.
    marked = {p: base[p] + 1 for p in (0, 1)}
    assert wait_for(lambda: watermarks(bs, topic, (0, 1)) == marked, timeout=10)
    assert watermarks(bs, topic, (0, 1), "read_committed") == marked


def test_raw_init_producer_id_aborts_an_ongoing_transaction(txnode):
    """InitProducerId for a transactional id with a transaction in progress aborts that transaction (answering
    CONCURRENT_TRANSACTIONS until the abort is complete, as Kafka does) and then hands out a higher epoch; the old
    epoch is fenced and the partition got an abort marker."""
    bs = txnode.bootstrap
    topic = unique("raw-fence")
    create_topic(bs, topic, partitions=1)
    base = watermarks(bs, topic, (0,))[0]
    tid = unique("raw-fence-tx")
    _, pid, old = txn_raw.init_producer_id_retrying(bs, tid)
    assert txn_raw.add_partitions_to_txn(bs, tid, pid, old, {topic: [0]}) == {(topic, 0): 0}

    codes = []
    deadline = time.time() + 30
    while True:
        error, new_pid, new_epoch = txn_raw.init_producer_id(bs, tid)
        codes.append(error)
        if error != txn_raw.CONCURRENT_TRANSACTIONS or time.time() > deadline:
            break
        time.sleep(0.05)
    assert error == 0 and set(codes) <= {0, txn_raw.CONCURRENT_TRANSACTIONS}, codes
    assert new_pid == pid and new_epoch > old, (new_pid, new_epoch)
    assert txn_raw.end_txn(bs, tid, pid, old, True, version=3) == txn_raw.PRODUCER_FENCED
    assert txn_raw.describe_transactions(bs, [tid])[tid]["state"] in ("Empty", "CompleteAbort")
    assert wait_for(lambda: watermarks(bs, topic, (0,)) == {0: base + 1}, timeout=10), "no abort marker"


def test_raw_list_transactions_reports_unknown_state_filters(txnode):
    """ListTransactions v0 answers error 0 and echoes the state filters it does not know."""
    error, unknown, _ = txn_raw.list_transactions(txnode.bootstrap, ["Ongoing", "NoSuchState"])
    assert error == 0 and unknown == ["NoSuchState"]


def test_aiokafka_transactional_producer_and_read_committed_consumer(txnode):
    """aiokafka: a transactional AIOKafkaProducer commits one transaction and aborts another (both spanning two
    partitions), and an AIOKafkaConsumer with isolation_level=read_committed reads exactly the committed records, in
    order per partition, up to the last stable offset."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as ATP

    bs = txnode.bootstrap
    topic = unique("aio-tx")
    create_topic(bs, topic, partitions=2)

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=bs, transactional_id=unique("aio"))
        await producer.start()
        sent = {0: [], 1: []}
        try:
            async with producer.transaction():
                for i in range(10):
                    await producer.send_and_wait(topic, f"ac-{i}".encode(), partition=i % 2)
                    sent[i % 2].append(f"ac-{i}")
            await producer.begin_transaction()
            for i in range(10):
                await producer.send_and_wait(topic, f"aa-{i}".encode(), partition=i % 2)
            await producer.abort_transaction()
            async with producer.transaction():
                for i in range(4):
                    await producer.send_and_wait(topic, f"ac2-{i}".encode(), partition=i % 2)
                    sent[i % 2].append(f"ac2-{i}")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bs, isolation_level="read_committed", enable_auto_commit=False)
        await consumer.start()
        got = {0: [], 1: []}
        try:
            partitions = [ATP(topic, 0), ATP(topic, 1)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            deadline = asyncio.get_running_loop().time() + 30
            while sum(map(len, got.values())) < 14 and asyncio.get_running_loop().time() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, messages in batches.items():
                    got[tp.partition] += [m.value.decode() for m in messages]
            # Nothing more arrives: the aborted records stay hidden.
            extra = await consumer.getmany(timeout_ms=1000)
            for tp, messages in extra.items():
                got[tp.partition] += [m.value.decode() for m in messages]
        finally:
            await consumer.stop()
        return sent, got

    sent, got = asyncio.run(run())
    assert got == sent
    # The aborted transaction's records are in the log: read_uncommitted gets them between the two committed ones.
    everything = {p: [f"ac-{i}" for i in range(p, 10, 2)] + [f"aa-{i}" for i in range(p, 10, 2)]
                  + [f"ac2-{i}" for i in range(p, 4, 2)] for p in (0, 1)}
    assert values(read_partitions(bs, topic, (0, 1), "read_uncommitted")) == everything
