"""Idempotent producers on one node: InitProducerId hands out ids that are never reused, even across a SIGKILL;
and an idempotent confluent-kafka producer that keeps producing while the node is SIGKILLed and restarted ends up
with every record exactly once and in order (retries of batches that did land are recognised from the producer
state rebuilt from the log)."""
import socket
import struct
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import create_topic


def init_producer_id(bootstrap: str, transactional_id: str | None = None):
    """InitProducerId v1 on a raw socket: (error code, producer id, epoch)."""
    host, port = bootstrap.split(":")
    client = b"raw-test"
    header = struct.pack(">hhih", 22, 1, 7, len(client)) + client
    if transactional_id is None:
        body = struct.pack(">h", -1)
    else:
        body = struct.pack(">h", len(transactional_id)) + transactional_id.encode()
    body += struct.pack(">i", 60000)
    frame = header + body
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
        data = s.recv(size, socket.MSG_WAITALL)
    correlation, _throttle, error, pid, epoch = struct.unpack(">iihqh", data)
    assert correlation == 7
    return error, pid, epoch


def find_coordinator(bootstrap: str, key: str, key_type: int = 1):
    """FindCoordinator v1 on a raw socket: (error code, node id)."""
    host, port = bootstrap.split(":")
    client = b"raw-test"
    frame = struct.pack(">hhih", 10, 1, 8, len(client)) + client
    frame += struct.pack(">h", len(key)) + key.encode() + struct.pack(">b", key_type)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
        data = s.recv(size, socket.MSG_WAITALL)
    correlation, _throttle, error = struct.unpack_from(">iih", data)
    assert correlation == 8
    message_length = struct.unpack_from(">h", data, 10)[0]
    node_id = struct.unpack_from(">i", data, 12 + max(message_length, 0))[0]
    return error, node_id


def test_producer_ids_are_unique_and_survive_a_crash(node):
    first = [init_producer_id(node.bootstrap) for _ in range(5)]
    assert all(e == 0 and epoch == 0 for e, _, epoch in first)
    ids = [pid for _, pid, _ in first]
    assert len(set(ids)) == 5 and min(ids) >= 0
    node.kill()
    node.start()
    after = [init_producer_id(node.bootstrap) for _ in range(5)]
    assert all(e == 0 for e, _, _ in after)
    assert min(pid for _, pid, _ in after) > max(ids), "a producer id was handed out again after the restart"
    # A transactional id goes through the transaction coordinator, found (and in Kafka created: __transaction_state)
    # by FindCoordinator key_type 1 as a client does; it may still be loading its state partitions just after the
    # restart (COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR meanwhile). A fresh id at
    # epoch 0, distinct from every idempotent producer's.
    deadline = time.time() + 30
    while True:
        find_coordinator(node.bootstrap, "tx-1")
        error, txn_pid, txn_epoch = init_producer_id(node.bootstrap, "tx-1")
        if error not in (14, 15, 16) or time.time() > deadline:
            break
        time.sleep(0.1)
    assert (error, txn_epoch) == (0, 0), (error, txn_pid, txn_epoch)
    assert txn_pid >= 0 and txn_pid not in ids + [pid for _, pid, _ in after]


def test_idempotent_producer_across_sigkill_writes_each_record_once_in_order(node, topic_name):
    create_topic(node.bootstrap, topic_name, partitions=2)
    acked = {}
    errors = []
    lock = threading.Lock()

    def on_delivery(err, msg):
        with lock:
            if err is not None:
                errors.append(str(err))
            else:
                acked[(msg.partition(), msg.offset())] = msg.value()

    producer = Producer({"bootstrap.servers": node.bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 2, "message.timeout.ms": 60000, "retry.backoff.ms": 50})
    stop = threading.Event()

    def produce_loop():
        i = 0
        while not stop.is_set():
            try:
                producer.produce(topic_name, value=f"v{i:08d}".encode(), partition=i % 2, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            producer.poll(0.001)
        producer.flush(60)

    thread = threading.Thread(target=produce_loop)
    thread.start()
    try:
        deadline = time.time() + 30
        while len(acked) < 2000 and time.time() < deadline:
            time.sleep(0.05)
        node.kill()
        time.sleep(0.5)
        node.start()
        before = len(acked)
        deadline = time.time() + 60
        while len(acked) < before + 2000 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(90)
    assert not errors, errors[:5]
    assert len(acked) > 4000

    consumer = Consumer({"bootstrap.servers": node.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                         "check.crcs": True})
    values = {0: [], 1: []}
    for p in (0, 1):
        _, high = consumer.get_watermark_offsets(TopicPartition(topic_name, p), timeout=10)
        consumer.assign([TopicPartition(topic_name, p, 0)])
        last = -1
        deadline = time.time() + 60
        while last + 1 < high:
            assert time.time() < deadline, f"partition {p}: read to {last}, the high watermark is {high}"
            for m in consumer.consume(1000, timeout=10):
                assert m.error() is None, m.error()
                key = (p, m.offset())
                assert key not in acked or acked[key] == m.value(), f"offset {key} holds another record"
                acked.pop(key, None)
                values[p].append(m.value())
                last = m.offset()
    consumer.close()
    assert not acked, f"{len(acked)} acknowledged records missing"
    for p, vs in values.items():
        assert len(set(vs)) == len(vs), f"partition {p}: {len(vs) - len(set(vs))} records written twice"
        assert vs == sorted(vs), f"partition {p}: records out of order"
