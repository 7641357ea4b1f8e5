"""The Schema Registry on a node's HTTP port with confluent-kafka's unmodified SchemaRegistryClient, AvroSerializer and
AvroDeserializer: register, evolve under BACKWARD, refuse incompatible changes with 409, fetch by id and version,
configs, soft and permanent deletes, and Avro records through a topic."""
import json
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import create_topic

V1 = {"type": "record", "name": "Order", "namespace": "shop",
      "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"}]}
V2 = {**V1, "fields": V1["fields"] + [{"name": "note", "type": ["null", "string"], "default": None}]}
REQUIRED = {**V1, "fields": V1["fields"] + [{"name": "customer", "type": "string"}]}
RETYPED = {**V1, "fields": [{"name": "id", "type": "int"}, {"name": "amount", "type": "double"}]}


def avro(schema):
    return Schema(json.dumps(schema), "AVRO")


@pytest.fixture
def registry(node):
    return SchemaRegistryClient({"url": f"http://127.0.0.1:{node.http_port}"})


def test_register_evolve_refuse_and_fetch(registry, topic_name):
    subject = f"{topic_name}-value"
    first = registry.register_schema(subject, avro(V1))
    assert registry.register_schema(subject, avro(V1)) == first, "an identical schema keeps its id"
    second = registry.register_schema(subject, avro(V2))
    assert second != first
    assert registry.get_versions(subject) == [1, 2]

    for bad in (REQUIRED, RETYPED):
        with pytest.raises(SchemaRegistryError) as refused:
            registry.register_schema(subject, avro(bad))
        assert refused.value.http_status_code == 409, refused.value
    assert registry.test_compatibility(subject, avro(REQUIRED)) is False
    assert registry.test_compatibility(subject, avro(V2)) is True

    assert json.loads(registry.get_schema(first).schema_str) == V1
    latest = registry.get_latest_version(subject)
    assert latest.version == 2 and latest.schema_id == second
    assert json.loads(registry.get_version(subject, 1).schema.schema_str) == V1
    assert subject in registry.get_subjects()
    found = registry.lookup_schema(subject, avro(V2))
    assert found.version == 2 and found.schema_id == second

    # The same schema under another subject gets the same global id.
    assert registry.register_schema(f"{topic_name}-other", avro(V1)) == first

    # Compatibility per subject: NONE lets the breaking change in.
    registry.set_compatibility(subject, "NONE")
    assert registry.get_compatibility(subject) == "NONE"
    third = registry.register_schema(subject, avro(REQUIRED))
    assert third not in (first, second)

    # Soft delete, then permanent; ids are never handed out again.
    assert registry.delete_version(subject, 3) == 3
    assert registry.get_versions(subject) == [1, 2]
    assert registry.delete_subject(subject) == [1, 2]
    with pytest.raises(SchemaRegistryError) as gone:
        registry.get_versions(subject)
    assert gone.value.http_status_code == 404 and gone.value.error_code == 40401
    registry.delete_subject(subject, permanent=True)
    fresh = registry.register_schema(subject, avro(RETYPED))
    assert fresh not in (first, second, third)


def test_errors_have_confluent_bodies(node):
    base = f"http://127.0.0.1:{node.http_port}"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{base}/subjects/no-such-subject/versions")
    assert e.value.code == 404
    assert json.loads(e.value.read())["error_code"] == 40401
    request = urllib.request.Request(f"{base}/subjects/bad/versions", data=b'{"schema": "{\\"type\\": \\"nope\\"}"}',
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request)
    assert e.value.code == 422 and json.loads(e.value.read())["error_code"] == 42201
    with urllib.request.urlopen(f"{base}/config") as r:
        assert json.loads(r.read()) == {"compatibilityLevel": "BACKWARD"}
    assert urllib.request.urlopen(f"{base}/metrics").status == 200, "metrics still served beside the registry"


def test_avro_serializer_and_deserializer_through_a_topic(node, registry, topic_name):
    create_topic(node.bootstrap, topic_name, partitions=1)
    serializer = AvroSerializer(registry, json.dumps(V2))
    producer = Producer({"bootstrap.servers": node.bootstrap})
    orders = [{"id": f"o{i}", "amount": i * 1.5, "note": None if i % 2 else f"n{i}"} for i in range(20)]
    for order in orders:
        producer.produce(topic_name, value=serializer(order, SerializationContext(topic_name, MessageField.VALUE)))
    assert producer.flush(30) == 0
    assert registry.get_latest_version(f"{topic_name}-value").version == 1, "auto-registered under TopicNameStrategy"

    deserializer = AvroDeserializer(registry)
    consumer = Consumer({"bootstrap.servers": node.bootstrap, "group.id": f"avro-{topic_name}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic_name])
    got = []
    import time
    deadline = time.time() + 30
    while time.time() < deadline and len(got) < len(orders):
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        assert msg.value()[0] == 0, "Confluent wire format: magic byte 0"
        got.append(deserializer(msg.value(), SerializationContext(topic_name, MessageField.VALUE)))
    consumer.close()
    assert got == orders


def test_broker_side_validation_refuses_unknown_schema_ids(node, registry, topic_name):
    """confluent.value.schema.validation=true: a record whose value is not in the wire format, or names a schema id
    not registered under <topic>-value, is refused with INVALID_RECORD; a valid one is stored."""
    from confluent_kafka import KafkaException

    create_topic(node.bootstrap, topic_name, partitions=1, config={"confluent.value.schema.validation": "true"})
    good_id = registry.register_schema(f"{topic_name}-value", avro(V1))
    other_id = registry.register_schema(f"{topic_name}-elsewhere", avro(RETYPED))
    serializer = AvroSerializer(registry, json.dumps(V1), conf={"auto.register.schemas": False})
    good = serializer({"id": "a", "amount": 1.0}, SerializationContext(topic_name, MessageField.VALUE))
    assert int.from_bytes(good[1:5], "big") == good_id

    producer = Producer({"bootstrap.servers": node.bootstrap, "retries": 0})
    results = []

    def produce(value):
        producer.produce(topic_name, value=value, on_delivery=lambda err, msg: results.append(err))
        producer.flush(30)
        return results[-1]

    assert produce(good) is None
    unknown = b"\x00" + (99999).to_bytes(4, "big") + good[5:]
    wrong_subject = b"\x00" + other_id.to_bytes(4, "big") + good[5:]
    for bad in (b"plain text", unknown, wrong_subject):
        err = produce(bad)
        assert err is not None and err.name() == "INVALID_RECORD", err
    assert produce(None) is None, "a tombstone passes"
    consumer = Consumer({"bootstrap.servers": node.bootstrap, "group.id": f"v-{topic_name}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic_name])
    values = []
    import time
    deadline = time.time() + 20
    while time.time() < deadline and len(values) < 2:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            values.append(msg.value())
    consumer.close()
    assert values == [good, None]


def test_skein_schema_verbs(node, tmp_path, topic_name):
    import os
    import subprocess

    from conftest import skein_binary

    env = dict(os.environ, SKEIN_REGISTRY=f"http://127.0.0.1:{node.http_port}")

    def skein(*args):
        return subprocess.run([skein_binary(), "schema", *args], capture_output=True, text=True, timeout=60, env=env)

    subject = f"{topic_name}-value"
    v1, v2, bad = tmp_path / "v1.avsc", tmp_path / "v2.avsc", tmp_path / "bad.avsc"
    v1.write_text(json.dumps(V1))
    v2.write_text(json.dumps(V2))
    bad.write_text(json.dumps(RETYPED))
    out = skein("register", subject, "--file", str(v1))
    assert out.returncode == 0 and f"registered {subject} version 1" in out.stdout, out.stderr
    assert skein("check", subject, "--file", str(v2)).stdout.strip() == "compatible"
    refused = skein("check", subject, "--file", str(bad))
    assert refused.returncode == 1 and refused.stdout.startswith("incompatible") and "id" in refused.stdout
    out = skein("register", subject, "--file", str(bad))
    assert out.returncode == 1 and "409" in out.stderr
    assert skein("register", subject, "--file", str(v2)).returncode == 0
    assert skein("list", subject).stdout.split() == ["1", "2"]
    assert subject in skein("list").stdout.split()
    got = json.loads(skein("get", subject, "--version", "1").stdout)
    assert got["version"] == 1 and json.loads(got["schema"]) == V1
    assert json.loads(json.loads(skein("get", "--id", str(got["id"])).stdout)["schema"]) == V1
    assert skein("config").stdout.strip() == "BACKWARD"
    assert skein("config", subject, "--set", "full").stdout.strip() == "FULL"
    assert skein("config", subject).stdout.strip() == "FULL"
    assert skein("delete", subject, "--version", "2").returncode == 0
    assert skein("list", subject).stdout.split() == ["1"]
    assert skein("list", subject, "--deleted").stdout.split() == ["1", "2"]
    assert skein("delete", subject).returncode == 0
    missing = skein("get", subject)
    assert missing.returncode == 1 and "40401" in missing.stderr
