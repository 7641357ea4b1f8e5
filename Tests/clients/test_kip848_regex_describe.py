"""KIP-848 with an unmodified client (confluent-kafka / librdkafka 2.16, group.protocol=consumer): a regular
expression subscription resolved by the broker (topics created after subscribing included, non-matching ones
never assigned), and AdminClient.describe_consumer_groups answered by ConsumerGroupDescribe (API key 69)."""
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka import ConsumerGroupState, ConsumerGroupType

from conftest import create_topic, wait_for


def produce(bootstrap, topic, count, partitions, prefix):
    p = Producer({"bootstrap.servers": bootstrap})
    values = set()
    for i in range(count):
        value = f"{prefix}-{i}"
        p.produce(topic, value=value.encode(), partition=i % partitions)
        values.add(value)
    assert p.flush(30) == 0
    return values


def poll_into(consumer, got, seconds):
    """Polls for `seconds`, adding (topic, value) of every record to `got`; returns errors other than EOF."""
    errors = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                errors.append(m.error())
            continue
        got.add((m.topic(), m.value().decode()))
    return errors


def test_regex_subscription_and_consumer_group_describe(node):
    suffix = uuid.uuid4().hex[:6]
    first, later = f"rx-one-{suffix}", f"rx-two-{suffix}"
    # Neither matches ^rx-.*: Kafka matches the whole topic name against the expression.
    others = [f"other-{suffix}", f"xrx-{suffix}"]
    create_topic(node.bootstrap, first, partitions=2)
    for t in others:
        create_topic(node.bootstrap, t, partitions=1)
    expected_first = {(first, v) for v in produce(node.bootstrap, first, 20, 2, "a")}
    for t in others:
        produce(node.bootstrap, t, 10, 1, "o")

    group = f"rx-group-{suffix}"
    c = Consumer({
        "bootstrap.servers": node.bootstrap, "group.id": group, "group.protocol": "consumer",
        "auto.offset.reset": "earliest", "enable.auto.commit": False, "client.id": "rx-client",
        "topic.metadata.refresh.interval.ms": 1000,
    })
    try:
        # librdkafka takes a subscription starting with '^' as a regular expression.
        c.subscribe(["^rx-.*"])
        got = set()
        deadline = time.time() + 60
        while time.time() < deadline and not expected_first <= got:
            errors = poll_into(c, got, 0.5)
            assert not errors, errors
        assert expected_first <= got, f"missing {len(expected_first - got)} records of {first}"

        # A matching topic created after the subscription is picked up.
        create_topic(node.bootstrap, later, partitions=3)
        expected_later = {(later, v) for v in produce(node.bootstrap, later, 30, 3, "b")}
        deadline = time.time() + 60
        while time.time() < deadline and not expected_later <= got:
            errors = poll_into(c, got, 0.5)
            assert not errors, errors
        assert expected_later <= got, f"missing {len(expected_later - got)} records of {later}"
        # A few more polls: still nothing from the non-matching topics.
        assert not poll_into(c, got, 2)
        assert {t for t, _ in got} == {first, later}
        assert got == expected_first | expected_later

        assigned = {(tp.topic, tp.partition) for tp in c.assignment()}
        assert assigned == {(first, 0), (first, 1), (later, 0), (later, 1), (later, 2)}

        # describe_consumer_groups: librdkafka uses ConsumerGroupDescribe for a consumer-protocol group.
        admin = AdminClient({"bootstrap.servers": node.bootstrap})

        def described():
            d = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=20)
            # Wait for the group to settle (the member has reconciled the last assignment).
            return d if d.state == ConsumerGroupState.STABLE else None

        d = wait_for(described, timeout=30, message="group not Stable")
        assert d.group_id == group
        assert d.type == ConsumerGroupType.CONSUMER
        assert not d.is_simple_consumer_group
        assert d.partition_assignor == "uniform"  # the broker's default server assignor
        assert d.coordinator.id == 1
        assert len(d.members) == 1
        m = d.members[0]
        assert m.member_id == c.memberid()
        assert m.client_id == "rx-client"
        assert m.host.lstrip("/") == "127.0.0.1"
        assert m.group_instance_id is None
        current = {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions}
        assert current == assigned
        assert m.target_assignment is not None
        target = {(tp.topic, tp.partition) for tp in m.target_assignment.topic_partitions}
        assert target == assigned

        # An unknown group: not found (librdkafka reports the classic DescribeGroups fallback's answer or
        # GROUP_ID_NOT_FOUND; either way no members).
        missing = admin.describe_consumer_groups([f"nope-{suffix}"], request_timeout=10)[f"nope-{suffix}"]
        try:
            result = missing.result(timeout=20)
            assert result.members == []
            assert result.state in (ConsumerGroupState.DEAD, ConsumerGroupState.UNKNOWN)
        except Exception as e:  # KafkaException(GROUP_ID_NOT_FOUND)
            assert e.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND, e
    finally:
        c.close()
