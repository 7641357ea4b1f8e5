"""Kafka's offsets as clients observe them, on a one-node and a three-node cluster (`[cluster]`, Raft per
partition): an empty partition is (0, 0), the first record is offset 0, offsets are dense, ListOffsets latest is the
record count, and none of that changes with leader elections, leadership transfers or DeleteRecords (Kafka writes
nothing into a data partition for those). confluent-kafka, kafka-python and aiokafka each check it."""
import asyncio
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_for
from test_cluster import bootstrap, partition_leaders, running_cluster


@pytest.fixture(scope="module", params=[(1,), (1, 2, 3)], ids=["1-node", "3-node"])
def nodes(request):
    with running_cluster(ids=request.param, prefix="skein-offsets-") as cluster:
        yield cluster


def new_topic(nodes, partitions=1):
    name = f"off-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=len(nodes))])[name].result(
        timeout=30)
    wait_for(lambda: (lambda l: len(l) == partitions and all(v > 0 for v in l.values()))(
        partition_leaders(nodes, name)), timeout=30)
    return name


def confluent_watermarks(nodes, topic, partition=0):
    def ask():
        # A new client each time: one that saw the topic missing (a node that had not applied its creation yet)
        # keeps calling the partition unknown until its next metadata refresh.
        consumer = Consumer({"bootstrap.servers": bootstrap(nodes), "group.id": "wm", "enable.auto.commit": False})
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
        except Exception:
            return None
        finally:
            consumer.close()
    return wait_for(ask, timeout=30)


def kafka_python_offsets(nodes, topic, partition=0):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    consumer = KafkaConsumer(bootstrap_servers=bootstrap(nodes).split(","), request_timeout_ms=30000)
    try:
        tp = KTP(topic, partition)
        return consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()


def aiokafka_offsets(nodes, topic, partition=0):
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as ATP

    async def run():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(nodes), request_timeout_ms=30000)
        await consumer.start()
        try:
            tp = ATP(topic, partition)
            low = (await consumer.beginning_offsets([tp]))[tp]
            high = (await consumer.end_offsets([tp]))[tp]
            return low, high
        finally:
            await consumer.stop()
    return asyncio.run(asyncio.wait_for(run(), 60))


def all_watermarks(nodes, topic):
    """(low, high) as each client reports it; all three must agree."""
    return {
        "confluent-kafka": tuple(confluent_watermarks(nodes, topic)),
        "kafka-python": tuple(kafka_python_offsets(nodes, topic)),
        "aiokafka": tuple(aiokafka_offsets(nodes, topic)),
    }


def produce(nodes, topic, values):
    """Produces each value as its own request (acks=all, idempotent) and returns the delivered offsets."""
    producer = Producer({"bootstrap.servers": bootstrap(nodes), "acks": "all", "enable.idempotence": True,
                         "linger.ms": 0, "message.timeout.ms": 60000, "retry.backoff.ms": 50,
                         "topic.metadata.refresh.interval.ms": 500})
    offsets = []
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            offsets.append(msg.offset())
    for v in values:
        producer.produce(topic, value=v, partition=0, on_delivery=delivered)
        producer.flush(60)
    assert not errors, errors
    return offsets


def consume_offsets_confluent(nodes, topic, end):
    consumer = Consumer({"bootstrap.servers": bootstrap(nodes), "group.id": f"g-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 60
    while time.time() < deadline and (not got or got[-1][0] < end - 1):
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append((msg.offset(), msg.value()))
    consumer.close()
    return got


def consume_offsets_kafka_python(nodes, topic, end):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    consumer = KafkaConsumer(bootstrap_servers=bootstrap(nodes).split(","), enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    tp = KTP(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = []
    deadline = time.time() + 60
    while time.time() < deadline and (not got or got[-1][0] < end - 1):
        for records in consumer.poll(timeout_ms=500).values():
            got.extend((r.offset, r.value) for r in records)
    consumer.close()
    return got


def consume_offsets_aiokafka(nodes, topic, end):
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as ATP

    async def run():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(nodes), enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            tp = ATP(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            got = []
            deadline = time.time() + 60
            while time.time() < deadline and (not got or got[-1][0] < end - 1):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend((r.offset, r.value) for r in records)
            return got
        finally:
            await consumer.stop()
    return asyncio.run(asyncio.wait_for(run(), 90))


def check_read_back(nodes, topic, values, start=0):
    expected = [(start + i, v) for i, v in enumerate(values)]
    end = start + len(values)
    for name, consume in [("confluent-kafka", consume_offsets_confluent),
                          ("kafka-python", consume_offsets_kafka_python), ("aiokafka", consume_offsets_aiokafka)]:
        got = consume(nodes, topic, end)
        assert got == expected, f"{name}: read {got[:5]}... ({len(got)} records), expected {expected[:5]}..."


def test_empty_partition_is_zero_zero_and_the_first_record_is_offset_zero(nodes):
    topic = new_topic(nodes)
    marks = all_watermarks(nodes, topic)
    assert set(marks.values()) == {(0, 0)}, marks
    values = [f"r{i}".encode() for i in range(30)]
    assert produce(nodes, topic, values) == list(range(30))
    marks = all_watermarks(nodes, topic)
    # ListOffsets latest after 30 records is 30; high - low counts the records.
    assert set(marks.values()) == {(0, 30)}, marks
    check_read_back(nodes, topic, values)


def test_every_partition_of_a_topic_starts_at_zero(nodes):
    topic = new_topic(nodes, partitions=4)
    producer = Producer({"bootstrap.servers": bootstrap(nodes), "acks": "all"})
    offsets = {}

    def delivered(err, msg):
        assert err is None, err
        offsets.setdefault(msg.partition(), []).append(msg.offset())
    for p in range(4):
        for i in range(3):
            producer.produce(topic, value=b"x", partition=p, on_delivery=delivered)
    assert producer.flush(30) == 0
    assert offsets == {p: [0, 1, 2] for p in range(4)}


def test_a_deleted_and_recreated_topic_starts_at_zero_again(nodes):
    topic = new_topic(nodes)
    produce(nodes, topic, [b"a", b"b", b"c"])
    admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
    admin.delete_topics([topic])[topic].result(timeout=30)

    def recreated():
        try:
            admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=len(nodes))])[topic].result(
                timeout=10)
            return True
        except Exception:
            return False  # still being deleted
    wait_for(recreated, timeout=60, interval=0.5)
    wait_for(lambda: partition_leaders(nodes, topic).get(0, -1) > 0, timeout=30)
    assert tuple(confluent_watermarks(nodes, topic)) == (0, 0)
    assert produce(nodes, topic, [b"new"]) == [0]


def test_delete_records_moves_the_log_start_and_no_offset(nodes):
    topic = new_topic(nodes)
    produce(nodes, topic, [f"r{i}".encode() for i in range(10)])
    admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
    deleted = list(admin.delete_records([TopicPartition(topic, 0, 4)]).values())[0].result(timeout=30)
    assert deleted.low_watermark == 4
    assert produce(nodes, topic, [b"after"]) == [10]
    marks = all_watermarks(nodes, topic)
    assert set(marks.values()) == {(4, 11)}, marks


def test_offsets_stay_dense_through_a_leadership_transfer_and_a_failover(nodes):
    if len(nodes) < 3:
        pytest.skip("leadership moves need more than one node")
    topic = new_topic(nodes)
    values = []

    def more(n):
        batch = [f"v{len(values) + i}".encode() for i in range(n)]
        start = len(values)
        assert produce(nodes, topic, batch) == list(range(start, start + n))
        values.extend(batch)
    more(10)
    # SIGTERM: the leader hands its leaderships over (TimeoutNow) before it exits.
    leader = partition_leaders(nodes, topic)[0]
    nodes[leader].stop()
    alive = {i for i in nodes if i != leader}
    wait_for(lambda: partition_leaders(nodes, topic, alive).get(0, -1) in alive, timeout=30)
    more(10)
    nodes[leader].start()
    # SIGKILL of whoever leads now: an election.
    current = wait_for(lambda: (lambda l: l if l in nodes else None)(partition_leaders(nodes, topic).get(0, -1)),
                       timeout=30)
    nodes[current].kill()
    alive = {i for i in nodes if i != current}
    wait_for(lambda: partition_leaders(nodes, topic, alive).get(0, -1) in alive, timeout=30)
    more(10)
    nodes[current].start()
    # Leadership returns to the preferred replica (another transfer) once it is caught up.
    wait_for(lambda: all(n.alive() for n in nodes.values()))
    more(5)
    marks = all_watermarks(nodes, topic)
    assert set(marks.values()) == {(0, 35)}, marks
    check_read_back(nodes, topic, values)
