"""confluent-kafka, kafka-python and aiokafka against a node: 100,000 records per compression codec, produced by
one client (idempotent: InitProducerId, sequence numbers) and consumed by another (assign-based: groups come
later), content and offsets checked."""
import time
import asyncio

import pytest

from conftest import create_topic

RECORDS = 100_000


def record(i: int):
    return f"key-{i % 1000}".encode(), f"value-{i}-{'x' * (i % 50)}".encode()


def produce_confluent(bootstrap, topic, codec):
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 5, "acks": "all",
                  "enable.idempotence": True})
    errors = []
    for i in range(RECORDS):
        k, v = record(i)
        deadline = time.time() + 60
        while True:
            assert time.time() < deadline, "the producer's queue stayed full for 60 s"
            try:
                p.produce(topic, key=k, value=v, partition=0, headers=[("i", str(i).encode())],
                          on_delivery=lambda err, msg: errors.append(err) if err else None)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(60) == 0
    assert errors == []


def produce_kafka_python(bootstrap, topic, codec):
    from kafka import KafkaProducer

    # Idempotent: kafka-python 3 turns it on by default.
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=None if codec == "none" else codec, acks="all",
                      linger_ms=5, batch_size=64 * 1024)
    futures = [p.send(topic, key=k, value=v, partition=0, headers=[("i", str(i).encode())])
               for i, (k, v) in ((i, record(i)) for i in range(RECORDS))]
    p.flush(60)
    for f in futures[-10:]:
        f.get(timeout=30)
    p.close()


def produce_aiokafka(bootstrap, topic, codec):
    from aiokafka import AIOKafkaProducer

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type=None if codec == "none" else codec,
                             acks="all", linger_ms=5, max_batch_size=64 * 1024, enable_idempotence=True)
        await p.start()
        try:
            pending = []
            for i in range(RECORDS):
                k, v = record(i)
                pending.append(await p.send(topic, key=k, value=v, partition=0, headers=[("i", str(i).encode())]))
            await asyncio.gather(*pending)
        finally:
            await p.stop()

    asyncio.run(run())


def consume_confluent(bootstrap, topic):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-assign-only", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    while len(out) < RECORDS:
        for m in c.consume(1000, timeout=10):
            assert m.error() is None, m.error()
            out.append((m.offset(), m.key(), m.value(), dict(m.headers() or [])))
        if not out:
            break
    c.close()
    return out


def consume_kafka_python(bootstrap, topic):
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=15000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    out = []
    for m in c:
        out.append((m.offset, m.key, m.value, dict(m.headers)))
        if len(out) == RECORDS:
            break
    c.close()
    return out


def consume_aiokafka(bootstrap, topic):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def run():
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await c.start()
        out = []
        try:
            tp = TopicPartition(topic, 0)
            c.assign([tp])
            await c.seek_to_beginning(tp)
            while len(out) < RECORDS:
                batch = await c.getmany(tp, timeout_ms=10000, max_records=5000)
                if not batch:
                    break
                for m in batch[tp]:
                    out.append((m.offset, m.key, m.value, dict(m.headers)))
        finally:
            await c.stop()
        return out

    return asyncio.run(run())


PAIRS = [
    ("none", produce_confluent, consume_kafka_python),
    ("gzip", produce_kafka_python, consume_confluent),
    ("snappy", produce_confluent, consume_aiokafka),
    ("lz4", produce_aiokafka, consume_confluent),
    ("zstd", produce_kafka_python, consume_aiokafka),
]


@pytest.mark.parametrize("codec,produce,consume", PAIRS, ids=[p[0] + "-" + p[1].__name__[8:] + "-to-" + p[2].__name__[8:] for p in PAIRS])
def test_cross_client_round_trip(node, topic_name, codec, produce, consume):
    create_topic(node.bootstrap, topic_name)
    produce(node.bootstrap, topic_name, codec)
    got = consume(node.bootstrap, topic_name)
    assert len(got) == RECORDS
    for i, (offset, key, value, headers) in enumerate(got):
        k, v = record(i)
        assert (offset, key, value, headers.get("i")) == (i, k, v, str(i).encode()), f"record {i}"


def test_admin_clients_create_describe_delete(node, topic_name):
    from confluent_kafka.admin import AdminClient, NewTopic
    from kafka.admin import KafkaAdminClient, NewTopic as KNewTopic

    admin = AdminClient({"bootstrap.servers": node.bootstrap})
    futures = admin.create_topics([NewTopic(topic_name, 4, 1, config={"retention.ms": "3600000"})])
    futures[topic_name].result(30)
    meta = admin.list_topics(timeout=10)
    assert len(meta.topics[topic_name].partitions) == 4
    assert meta.brokers[1].port == node.port
    with pytest.raises(Exception, match="TOPIC_ALREADY_EXISTS"):
        admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(30)
    with pytest.raises(Exception, match="INVALID_CONFIG|Unknown topic config"):
        admin.create_topics([NewTopic(topic_name + "-x", 1, 1, config={"no.such.config": "1"})])[topic_name + "-x"].result(30)
    admin.delete_topics([topic_name])[topic_name].result(30)
    assert topic_name not in admin.list_topics(timeout=10).topics

    kadmin = KafkaAdminClient(bootstrap_servers=node.bootstrap)
    kadmin.create_topics([KNewTopic(topic_name + "-k", num_partitions=2, replication_factor=1)])
    assert topic_name + "-k" in kadmin.list_topics()
    kadmin.delete_topics([topic_name + "-k"])
    assert topic_name + "-k" not in kadmin.list_topics()
    kadmin.close()
