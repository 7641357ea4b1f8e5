"""SIGKILL during acks=all produce (default fsync policy): after a restart every acknowledged record is there,
offsets are contiguous, and no corrupted batch is served (the consumer checks CRCs)."""
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import create_topic


def test_sigkill_during_acks_all_produce_loses_nothing_acknowledged(node, topic_name):
    create_topic(node.bootstrap, topic_name, partitions=2)
    acked = {}  # (partition, offset) -> value
    lock = threading.Lock()

    def on_delivery(err, msg):
        if err is None:
            with lock:
                acked[(msg.partition(), msg.offset())] = msg.value()

    producer = Producer({"bootstrap.servers": node.bootstrap, "acks": "all", "linger.ms": 2,
                         "message.timeout.ms": 5000, "retries": 0})
    killer = threading.Timer(1.0, node.kill)
    killer.start()
    i = 0
    deadline = time.time() + 4
    while time.time() < deadline:
        try:
            producer.produce(topic_name, value=f"v-{i}".encode(), partition=i % 2, on_delivery=on_delivery)
            i += 1
        except BufferError:
            pass
        producer.poll(0)
    producer.flush(15)
    killer.join()
    assert len(acked) > 100, "the kill came before anything was acknowledged"

    node.start()
    consumer = Consumer({"bootstrap.servers": node.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                         "check.crcs": True})
    consumer.assign([TopicPartition(topic_name, p, 0) for p in (0, 1)])
    stored = {}
    idle_since = time.time()
    while time.time() - idle_since < 5:
        msgs = consumer.consume(1000, timeout=1)
        for m in msgs:
            assert m.error() is None, m.error()
            stored[(m.partition(), m.offset())] = m.value()
        if msgs:
            idle_since = time.time()
    consumer.close()
    for key, value in acked.items():
        assert stored.get(key) == value, f"acknowledged record {key} lost"
    for p in (0, 1):
        offsets = sorted(o for (pp, o) in stored if pp == p)
        assert offsets == list(range(len(offsets))), f"partition {p} offsets are not contiguous"
