"""Consumer groups on one node with unmodified clients: subscribe() with a group.id (confluent-kafka, kafka-python,
aiokafka), fan-out over independent groups, partitions split without overlap, takeover from committed offsets,
cooperative-sticky, max.poll.interval.ms, KIP-848 (group.protocol=consumer), offsets kept across a restart."""
import asyncio
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import SkeinNode, create_topic

GROUP_CONFIG = "\n[groups]\ninitial_rebalance_delay_ms = 0\nmin_session_timeout_ms = 1000\n"


@pytest.fixture(scope="module")
def gnode():
    directory = Path(tempfile.mkdtemp(prefix="skein-groups-"))
    n = SkeinNode(directory, extra_config=GROUP_CONFIG).start()
    try:
        yield n
    finally:
        n.kill()
        if os.environ.get("SKEIN_KEEP_TEST_DIRS") is None:
            shutil.rmtree(directory, ignore_errors=True)


def produce(bootstrap, topic, count, partitions, prefix="v"):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(count):
        p.produce(topic, key=f"k{i}".encode(), value=f"{prefix}{i}".encode(), partition=i % partitions)
    assert p.flush(30) == 0
    return {f"{prefix}{i}" for i in range(count)}


def consumer(bootstrap, group, **extra):
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    config.update(extra)
    return Consumer(config)


def drain(c, want, timeout=60, commit=True):
    """Polls until `want` values arrived (or the timeout); returns the values seen, committing as it goes."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline and len(set(seen)) < want:
        msg = c.poll(0.2)
        if msg is None or msg.error():
            continue
        seen.append(msg.value().decode())
        if commit:
            c.commit(message=msg, asynchronous=False)
    return seen


def test_three_groups_each_read_every_record(gnode, topic_name):
    """Fan-out: confluent-kafka, kafka-python and aiokafka groups on one topic each get all records."""
    create_topic(gnode.bootstrap, topic_name, partitions=3)
    expected = produce(gnode.bootstrap, topic_name, 300, 3)

    c = consumer(gnode.bootstrap, f"ck-{uuid.uuid4().hex[:6]}")
    c.subscribe([topic_name])
    got_ck = drain(c, len(expected))
    c.close()
    assert set(got_ck) == expected

    from kafka import KafkaConsumer

    kc = KafkaConsumer(
        topic_name, bootstrap_servers=gnode.bootstrap, group_id=f"kp-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000,
    )
    got_kp = set()
    deadline = time.time() + 60
    while time.time() < deadline and len(got_kp) < len(expected):
        for records in kc.poll(timeout_ms=500).values():
            got_kp.update(r.value.decode() for r in records)
        kc.commit()
    kc.close()
    assert got_kp == expected

    async def aio():
        from aiokafka import AIOKafkaConsumer

        ac = AIOKafkaConsumer(
            topic_name, bootstrap_servers=gnode.bootstrap, group_id=f"aio-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest", enable_auto_commit=False,
        )
        await ac.start()
        got = set()
        try:
            deadline = time.time() + 60
            while time.time() < deadline and len(got) < len(expected):
                batch = await ac.getmany(timeout_ms=500)
                for records in batch.values():
                    got.update(r.value.decode() for r in records)
                await ac.commit()
        finally:
            await ac.stop()
        return got

    assert asyncio.run(aio()) == expected


def test_members_split_partitions_and_take_over_from_committed_offsets(gnode, topic_name):
    create_topic(gnode.bootstrap, topic_name, partitions=4)
    group = f"split-{uuid.uuid4().hex[:6]}"
    first = produce(gnode.bootstrap, topic_name, 200, 4, prefix="a")

    a = consumer(gnode.bootstrap, group)
    b = consumer(gnode.bootstrap, group)
    a.subscribe([topic_name])
    b.subscribe([topic_name])
    seen = {"a": [], "b": []}
    deadline = time.time() + 60
    # Both poll until each owns some partitions and together they read everything.
    while time.time() < deadline:
        for name, c in (("a", a), ("b", b)):
            msg = c.poll(0.1)
            if msg is not None and not msg.error():
                seen[name].append(msg.value().decode())
                c.commit(message=msg, asynchronous=False)
        if a.assignment() and b.assignment() and set(seen["a"]) | set(seen["b"]) >= first:
            break
    owned_a = {(tp.topic, tp.partition) for tp in a.assignment()}
    owned_b = {(tp.topic, tp.partition) for tp in b.assignment()}
    assert owned_a and owned_b, (owned_a, owned_b)
    assert not owned_a & owned_b, "a partition is assigned to two members"
    assert owned_a | owned_b == {(topic_name, p) for p in range(4)}
    assert set(seen["a"]) | set(seen["b"]) == first
    assert not set(seen["a"]) & set(seen["b"]), "a record was delivered to both members"

    # b leaves; a takes over all partitions and resumes from b's committed offsets: only new records arrive.
    b.close()
    second = produce(gnode.bootstrap, topic_name, 200, 4, prefix="b")
    got = drain(a, len(second))
    a.close()
    assert set(got) == second, "records lost or replayed after the takeover"


def test_cooperative_sticky(gnode, topic_name):
    create_topic(gnode.bootstrap, topic_name, partitions=4)
    group = f"coop-{uuid.uuid4().hex[:6]}"
    expected = produce(gnode.bootstrap, topic_name, 100, 4)
    revoked_a = []
    revoked_b = []
    a = consumer(gnode.bootstrap, group, **{"partition.assignment.strategy": "cooperative-sticky"})
    a.subscribe([topic_name], on_revoke=lambda c, ps: revoked_a.extend(tp.partition for tp in ps))
    got = drain(a, len(expected))
    assert set(got) == expected
    assert len(a.assignment()) == 4
    assert revoked_a == []

    b = consumer(gnode.bootstrap, group, **{"partition.assignment.strategy": "cooperative-sticky"})
    b.subscribe([topic_name], on_revoke=lambda c, ps: revoked_b.extend(tp.partition for tp in ps))
    deadline = time.time() + 60
    while time.time() < deadline and not (len(a.assignment()) == 2 and len(b.assignment()) == 2):
        a.poll(0.1)
        b.poll(0.1)
    kept = {tp.partition for tp in a.assignment()}
    moved = {tp.partition for tp in b.assignment()}
    assert len(kept) == 2 and len(moved) == 2
    assert not kept & moved
    # Incremental (KIP-429): the first member gave up exactly the partitions that moved, once each, and kept the
    # others throughout; the newcomer had nothing taken away.
    assert sorted(revoked_a) == sorted(moved), f"revoked from a: {revoked_a}, moved to b: {moved}"
    assert revoked_b == []
    a.close()
    b.close()


def test_member_exceeding_max_poll_interval_is_removed(gnode, topic_name):
    create_topic(gnode.bootstrap, topic_name, partitions=2)
    group = f"slow-{uuid.uuid4().hex[:6]}"
    produce(gnode.bootstrap, topic_name, 10, 2)
    slow = consumer(gnode.bootstrap, group, **{"max.poll.interval.ms": 3000, "session.timeout.ms": 2000})
    slow.subscribe([topic_name])
    deadline = time.time() + 30
    while time.time() < deadline and not slow.assignment():
        slow.poll(0.1)
    assert slow.assignment()
    fast = consumer(gnode.bootstrap, group)
    fast.subscribe([topic_name])
    # `slow` stops polling: after max.poll.interval.ms it leaves the group and `fast` gets every partition.
    deadline = time.time() + 60
    while time.time() < deadline and len(fast.assignment()) < 2:
        fast.poll(0.2)
    assert len(fast.assignment()) == 2
    admin = AdminClient({"bootstrap.servers": gnode.bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    assert len(described.members) == 1
    fast.close()
    slow.close()


def test_kip848_consumer_protocol(gnode, topic_name):
    create_topic(gnode.bootstrap, topic_name, partitions=4)
    group = f"kip848-{uuid.uuid4().hex[:6]}"
    first = produce(gnode.bootstrap, topic_name, 200, 4, prefix="a")
    # KIP-848: session and heartbeat settings are the broker's; the client may not set them.
    base = {
        "bootstrap.servers": gnode.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "group.protocol": "consumer",
    }
    a = Consumer(dict(base))
    a.subscribe([topic_name])
    got = drain(a, len(first))
    assert set(got) == first
    b = Consumer(dict(base))
    b.subscribe([topic_name])
    deadline = time.time() + 60
    while time.time() < deadline and not (len(a.assignment()) == 2 and len(b.assignment()) == 2):
        a.poll(0.1)
        b.poll(0.1)
    assert len(a.assignment()) == 2 and len(b.assignment()) == 2
    assert not {tp.partition for tp in a.assignment()} & {tp.partition for tp in b.assignment()}
    b.close()
    second = produce(gnode.bootstrap, topic_name, 100, 4, prefix="b")
    got = drain(a, len(second))
    a.close()
    assert set(got) == second


def test_committed_offsets_survive_a_restart(gnode, topic_name):
    create_topic(gnode.bootstrap, topic_name, partitions=2)
    group = f"restart-{uuid.uuid4().hex[:6]}"
    first = produce(gnode.bootstrap, topic_name, 50, 2, prefix="a")
    c = consumer(gnode.bootstrap, group)
    c.subscribe([topic_name])
    assert set(drain(c, len(first))) == first
    committed = c.committed([TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)], timeout=10)
    assert sorted(tp.offset for tp in committed) == [25, 25]
    c.close()
    gnode.kill()
    gnode.start()
    second = produce(gnode.bootstrap, topic_name, 50, 2, prefix="b")
    c = consumer(gnode.bootstrap, group)
    c.subscribe([topic_name])
    got = drain(c, len(second))
    c.close()
    assert set(got) == second


def test_admin_lists_describes_and_deletes_groups(gnode, topic_name):
    create_topic(gnode.bootstrap, topic_name, partitions=1)
    group = f"admin-{uuid.uuid4().hex[:6]}"
    produce(gnode.bootstrap, topic_name, 5, 1)
    c = consumer(gnode.bootstrap, group)
    c.subscribe([topic_name])
    assert len(drain(c, 5)) >= 5
    admin = AdminClient({"bootstrap.servers": gnode.bootstrap})
    listed = admin.list_consumer_groups().result(timeout=30)
    assert group in {g.group_id for g in listed.valid}
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    assert described.state.name == "STABLE" and len(described.members) == 1
    # A group with members cannot be deleted.
    with pytest.raises(Exception) as refused:
        admin.delete_consumer_groups([group])[group].result(timeout=30)
    assert "NON_EMPTY_GROUP" in str(refused.value) or "not empty" in str(refused.value).lower()
    c.close()
    admin.delete_consumer_groups([group])[group].result(timeout=30)
    listed = admin.list_consumer_groups().result(timeout=30)
    assert group not in {g.group_id for g in listed.valid}


def skein_cli(node, *args):
    import subprocess
    from conftest import skein_binary

    env = dict(os.environ, SKEIN_BROKERS=node.bootstrap)
    return subprocess.run([skein_binary(), *args], capture_output=True, text=True, timeout=120, env=env)


def test_skein_group_verbs_show_lag_reset_offsets_and_delete(gnode, topic_name):
    create_topic(gnode.bootstrap, topic_name, partitions=2)
    group = f"cli-{uuid.uuid4().hex[:6]}"
    produce(gnode.bootstrap, topic_name, 40, 2)
    c = consumer(gnode.bootstrap, group)
    c.subscribe([topic_name])
    got = drain(c, 40)
    assert len(set(got)) == 40
    produce(gnode.bootstrap, topic_name, 10, 2, prefix="late")  # 5 per partition not consumed yet: lag 5 each

    listed = skein_cli(gnode, "group", "list")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:2] == [group, "Stable"] for line in listed.stdout.splitlines()), listed.stdout
    described = skein_cli(gnode, "group", "describe", group)
    assert described.returncode == 0, described.stderr
    rows = [line.split() for line in described.stdout.splitlines() if line.startswith(topic_name)]
    assert sorted((r[1], r[2], r[3], r[4]) for r in rows) == [("0", "20", "25", "5"), ("1", "20", "25", "5")], \
        described.stdout
    assert "total lag: 10" in described.stdout
    assert all(r[5] != "-" for r in rows), "every partition has an owner"

    # Offsets cannot be reset under an active member.
    refused = skein_cli(gnode, "group", "reset-offsets", group, "--topic", topic_name, "--to-earliest")
    assert refused.returncode == 1 and "active members" in refused.stderr
    c.close()
    reset = skein_cli(gnode, "group", "reset-offsets", group, "--topic", topic_name, "--to-earliest")
    assert reset.returncode == 0, reset.stderr
    assert f"{topic_name} 0 -> 0" in reset.stdout and f"{topic_name} 1 -> 0" in reset.stdout
    c = consumer(gnode.bootstrap, group)
    c.subscribe([topic_name])
    again = drain(c, 50)
    c.close()
    assert len(set(again)) == 50, "after the reset the group reads from the start"

    to_offset = skein_cli(gnode, "group", "reset-offsets", group, "--topic", topic_name, "--partitions", "1",
                          "--to-offset", "7")
    assert to_offset.returncode == 0 and f"{topic_name} 1 -> 7" in to_offset.stdout, to_offset.stderr
    deleted = skein_cli(gnode, "group", "delete", group)
    assert deleted.returncode == 0, deleted.stderr
    gone = skein_cli(gnode, "group", "describe", group)
    assert "state: Dead" in gone.stdout or gone.returncode == 1, gone.stdout + gone.stderr


def test_static_member_restart_keeps_its_partitions_without_a_rebalance(gnode, topic_name):
    """group.instance.id (KIP-345): a static member that restarts within its session timeout gets its partitions
    back and the other member is not disturbed (no revocation)."""
    create_topic(gnode.bootstrap, topic_name, partitions=4)
    group = f"static-{uuid.uuid4().hex[:6]}"
    produce(gnode.bootstrap, topic_name, 40, 4)
    revoked_b = []
    a = consumer(gnode.bootstrap, group, **{"group.instance.id": "instance-a", "session.timeout.ms": 10000})
    b = consumer(gnode.bootstrap, group, **{"group.instance.id": "instance-b", "session.timeout.ms": 10000})
    a.subscribe([topic_name])
    b.subscribe([topic_name], on_revoke=lambda c, ps: revoked_b.extend(ps))
    deadline = time.time() + 60
    while time.time() < deadline and not (len(a.assignment()) == 2 and len(b.assignment()) == 2):
        a.poll(0.1)
        b.poll(0.1)
    owned_a = {tp.partition for tp in a.assignment()}
    owned_b = {tp.partition for tp in b.assignment()}
    assert len(owned_a) == 2 and len(owned_b) == 2 and not owned_a & owned_b
    a.close()  # a static member does not leave the group on close
    again = consumer(gnode.bootstrap, group, **{"group.instance.id": "instance-a", "session.timeout.ms": 10000})
    again.subscribe([topic_name])
    deadline = time.time() + 30
    while time.time() < deadline and not again.assignment():
        again.poll(0.1)
        b.poll(0.1)
    for _ in range(10):
        b.poll(0.1)
    assert {tp.partition for tp in again.assignment()} == owned_a
    assert {tp.partition for tp in b.assignment()} == owned_b
    assert revoked_b == [], "the other member was rebalanced"
    admin = AdminClient({"bootstrap.servers": gnode.bootstrap})  # kept alive until its future completes
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    assert len(described.members) == 2
    assert {m.group_instance_id for m in described.members} == {"instance-a", "instance-b"}
    again.close()
    b.close()
