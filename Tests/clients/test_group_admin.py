"""The group admin calls answer, always: describe a group and list its committed offsets with confluent-kafka,
kafka-python and aiokafka admin clients while the group rebalances again and again, and while its coordinator's node
is SIGKILLed and restarted, on three nodes. Every call must come back (with the group, or with an error the client
reports) before its own timeout; a call that runs into its timeout is a request the cluster never answered."""
import asyncio
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_for
from test_cluster import bootstrap, partition_leaders, running_cluster

CALL_TIMEOUT_S = 10
DEBUG = {"debug": "admin,broker,protocol,cgrp"} if __import__("os").environ.get("SKEIN_RDKAFKA_DEBUG") else {}


@pytest.fixture(scope="module")
def nodes():
    with running_cluster(prefix="skein-gadmin-") as cluster:
        yield cluster


class Calls:
    """Outcomes of the admin calls: ok, an error answered in time, or a hang (no answer within the timeout)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ok = {}
        self.errors = {}
        self.hangs = []

    def record(self, client, started, error=None):
        took = time.time() - started
        with self.lock:
            if error is None:
                self.ok[client] = self.ok.get(client, 0) + 1
            elif took >= CALL_TIMEOUT_S - 0.5 or "timed out" in str(error).lower() or "timeout" in type(error).__name__.lower():
                self.hangs.append((client, round(took, 1), str(error)[:200]))
            else:
                self.errors.setdefault(client, []).append(str(error)[:120])


def confluent_round(nodes, group, calls):
    from confluent_kafka import ConsumerGroupTopicPartitions

    admin = AdminClient({"bootstrap.servers": bootstrap(nodes), **DEBUG})
    started = time.time()
    try:
        d = admin.describe_consumer_groups([group], request_timeout=CALL_TIMEOUT_S)[group].result(
            timeout=CALL_TIMEOUT_S + 5)
        assert d.group_id == group
        calls.record("confluent-kafka describe", started)
    except Exception as e:
        calls.record("confluent-kafka describe", started, e)
    started = time.time()
    try:
        r = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=CALL_TIMEOUT_S)
        r[group].result(timeout=CALL_TIMEOUT_S + 5)
        calls.record("confluent-kafka list offsets", started)
    except Exception as e:
        calls.record("confluent-kafka list offsets", started, e)


def kafka_python_round(nodes, group, calls):
    from kafka import KafkaAdminClient

    started = time.time()
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap(nodes).split(","),
                                 request_timeout_ms=CALL_TIMEOUT_S * 1000)
    except Exception as e:
        calls.record("kafka-python connect", started, e)
        return
    try:
        started = time.time()
        try:
            described = admin.describe_groups([group])
            assert group in described
            calls.record("kafka-python describe", started)
        except Exception as e:
            calls.record("kafka-python describe", started, e)
        started = time.time()
        try:
            admin.list_group_offsets(group)
            calls.record("kafka-python list offsets", started)
        except Exception as e:
            calls.record("kafka-python list offsets", started, e)
    finally:
        admin.close()


def aiokafka_round(nodes, group, calls):
    from aiokafka.admin import AIOKafkaAdminClient

    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(nodes), request_timeout_ms=CALL_TIMEOUT_S * 1000)
        await admin.start()
        try:
            started = time.time()
            try:
                await asyncio.wait_for(admin.describe_consumer_groups([group]), CALL_TIMEOUT_S)
                calls.record("aiokafka describe", started)
            except Exception as e:
                calls.record("aiokafka describe", started, e)
            started = time.time()
            try:
                await asyncio.wait_for(admin.list_consumer_group_offsets(group), CALL_TIMEOUT_S)
                calls.record("aiokafka list offsets", started)
            except Exception as e:
                calls.record("aiokafka list offsets", started, e)
        finally:
            await admin.close()

    started = time.time()
    try:
        asyncio.run(asyncio.wait_for(run(), 3 * CALL_TIMEOUT_S))
    except Exception as e:
        calls.record("aiokafka connect", started, e)


def admin_loop(nodes, group, calls, stop):
    while not stop.is_set():
        for round_ in (confluent_round, kafka_python_round, aiokafka_round):
            if stop.is_set():
                return
            round_(nodes, group, calls)


def churn(nodes, topic, group, stop):
    """Members join, consume, commit and leave, one after another, so the group keeps rebalancing."""
    steady = Consumer({"bootstrap.servers": bootstrap(nodes), "group.id": group, "auto.offset.reset": "earliest",
                       "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    steady.subscribe([topic])
    try:
        while not stop.is_set():
            extra = Consumer({"bootstrap.servers": bootstrap(nodes), "group.id": group,
                              "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                              "heartbeat.interval.ms": 500})
            extra.subscribe([topic])
            until = time.time() + 2
            while time.time() < until and not stop.is_set():
                for c in (steady, extra):
                    m = c.poll(0.1)
                    if m is not None and not m.error():
                        try:
                            c.commit(message=m, asynchronous=True)
                        except KafkaException:
                            pass
            extra.close()
    finally:
        steady.close()


def test_group_admin_calls_answer_through_rebalances_and_a_coordinator_failover(nodes):
    topic = f"gadmin-{uuid.uuid4().hex[:6]}"
    group = f"gadmin-group-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=3)])[topic].result(timeout=30)
    wait_for(lambda: (lambda l: len(l) == 4 and all(v > 0 for v in l.values()))(partition_leaders(nodes, topic)))
    producer = Producer({"bootstrap.servers": bootstrap(nodes), "acks": "all"})
    for i in range(400):
        producer.produce(topic, value=f"v{i}".encode(), partition=i % 4)
    assert producer.flush(30) == 0

    calls = Calls()
    stop = threading.Event()
    threads = [threading.Thread(target=churn, args=(nodes, topic, group, stop), daemon=True),
               threading.Thread(target=admin_loop, args=(nodes, group, calls, stop), daemon=True)]
    for t in threads:
        t.start()
    try:
        # Rebalances: a few rounds of every client's calls while members come and go.
        wait_for(lambda: sum(calls.ok.values()) >= 36, timeout=180, interval=0.5,
                 message="the admin calls did not get through the rebalances")
        # The coordinator's node dies.
        coordinator = wait_for(
            lambda: admin.describe_consumer_groups([group])[group].result(timeout=15).coordinator.id, timeout=30)
        before = sum(calls.ok.values())
        nodes[coordinator].kill()
        wait_for(lambda: sum(calls.ok.values()) >= before + 36, timeout=180, interval=0.5,
                 message="the admin calls did not get through the coordinator's SIGKILL")
        nodes[coordinator].start()
        before = sum(calls.ok.values())
        wait_for(lambda: sum(calls.ok.values()) >= before + 18, timeout=180, interval=0.5,
                 message="the admin calls did not get through the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        for n in nodes.values():
            if not n.alive():
                n.start()
    print(f"\nadmin calls answered: {calls.ok}; errors answered in time: "
          f"{ {k: (len(v), v[:2]) for k, v in calls.errors.items()} }; hangs: {len(calls.hangs)}")
    assert not calls.hangs, f"calls that got no answer within {CALL_TIMEOUT_S} s: {calls.hangs[:6]}"
    for client in ("confluent-kafka describe", "confluent-kafka list offsets", "kafka-python describe",
                   "kafka-python list offsets", "aiokafka describe", "aiokafka list offsets"):
        assert calls.ok.get(client, 0) > 0, f"{client} never succeeded: {calls.errors.get(client, [])[:3]}"
