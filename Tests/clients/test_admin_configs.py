"""Config, partition and record admin APIs through confluent-kafka's AdminClient and kafka-python's admin."""
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions,
                                   NewTopic)

from conftest import create_topic


def admin(node):
    return AdminClient({"bootstrap.servers": node.bootstrap})


def describe(a, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return a.describe_configs([res])[res].result(30)


def test_describe_and_alter_topic_configs(node, topic_name):
    a = admin(node)
    a.create_topics([NewTopic(topic_name, 1, 1, config={"retention.ms": "3600000"})])[topic_name].result(30)
    configs = describe(a, topic_name)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == ConfigResource.Type.TOPIC or configs["retention.ms"].is_default is False
    assert configs["cleanup.policy"].value == "delete" and configs["cleanup.policy"].is_default

    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
    ])
    a.incremental_alter_configs([res])[res].result(30)
    configs = describe(a, topic_name)
    assert configs["segment.bytes"].value == "1048576"
    assert configs["retention.ms"].value == "604800000" and configs["retention.ms"].is_default
    assert configs["cleanup.policy"].value == "delete,compact"

    bad = ConfigResource(ConfigResource.Type.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("segment.bytes", "not-a-number", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(Exception, match="INVALID_CONFIG|Invalid value"):
        a.incremental_alter_configs([bad])[bad].result(30)

    # Legacy AlterConfigs replaces the whole set.
    legacy = ConfigResource(ConfigResource.Type.TOPIC, topic_name, set_config={"max.message.bytes": "2000000"})
    a.alter_configs([legacy])[legacy].result(30)
    configs = describe(a, topic_name)
    assert configs["max.message.bytes"].value == "2000000"
    assert configs["segment.bytes"].is_default

    broker = ConfigResource(ConfigResource.Type.BROKER, "1")
    broker_configs = a.describe_configs([broker])[broker].result(30)
    assert broker_configs["num.partitions"].value == "1"


def test_max_message_bytes_is_enforced_per_topic(node, topic_name):
    create_topic(node.bootstrap, topic_name, config={"max.message.bytes": "2000"})
    errors = []
    p = Producer({"bootstrap.servers": node.bootstrap, "message.max.bytes": 100000})
    # Separate flushes: a batch over the limit is refused whole, so the records must not share one.
    p.produce(topic_name, value=b"x" * 5000, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    p.produce(topic_name, value=b"y" * 100, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert [e.name() if e else None for e in errors] == ["MSG_SIZE_TOO_LARGE", None]


def test_create_partitions_and_delete_records(node, topic_name):
    a = admin(node)
    create_topic(node.bootstrap, topic_name, partitions=1)
    a.create_partitions([NewPartitions(topic_name, 3)])[topic_name].result(30)
    assert len(a.list_topics(timeout=10).topics[topic_name].partitions) == 3
    with pytest.raises(Exception, match="INVALID_PARTITIONS"):
        a.create_partitions([NewPartitions(topic_name, 2)])[topic_name].result(30)

    p = Producer({"bootstrap.servers": node.bootstrap})
    for i in range(10):
        p.produce(topic_name, value=f"m{i}".encode(), partition=2)
    p.flush(30)
    result = a.delete_records([TopicPartition(topic_name, 2, 4)])
    deleted = list(result.values())[0].result(30)
    assert deleted.low_watermark == 4
    # No auto-commit: committing needs the group coordinator (consumer-groups issue).
    c = Consumer({"bootstrap.servers": node.bootstrap, "group.id": "unused", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    low, high = c.get_watermark_offsets(TopicPartition(topic_name, 2), timeout=10)
    assert (low, high) == (4, 10)
    c.assign([TopicPartition(topic_name, 2, 0)])  # below the low watermark: reset to earliest
    msgs = c.consume(6, timeout=10)
    assert [m.offset() for m in msgs if m.error() is None][:1] == [4]
    c.close()


def test_kafka_python_describe_and_alter(node, topic_name):
    from kafka.admin import ConfigResource as KConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions as KNewPartitions

    create_topic(node.bootstrap, topic_name)
    k = KafkaAdminClient(bootstrap_servers=node.bootstrap)
    k.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic_name, configs={"retention.ms": "1000000"})])
    described = k.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic_name)])
    text = str(described)
    assert "retention.ms" in text and "1000000" in text
    k.create_partitions({topic_name: KNewPartitions(total_count=2)})
    assert len(k.describe_topics([topic_name])[0]["partitions"]) == 2
    k.close()
