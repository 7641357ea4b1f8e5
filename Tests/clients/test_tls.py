"""SSL listeners with confluent-kafka: certificates from `skein certs create`, a node with a PLAINTEXT, an SSL and a
client-authenticating SSL listener; records produced and consumed over TLS (fetches larger than 1 MiB, which cannot
use sendfile), metadata advertising the listener the client came through, and client certificates enforced."""
import time
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import SkeinNode, create_topic, free_port, skein_binary

RECORDS = 3000
VALUE_SIZE = 1024  # 3000 records of 1 KiB: a single fetch response carries about 3 MiB


def certs(*args):
    return subprocess.run([skein_binary(), "certs", "create", *args], capture_output=True, text=True, timeout=60)


class TLSNode:
    def __init__(self, node: SkeinNode, tls_dir: Path, ssl_port: int, mtls_port: int):
        self.node = node
        self.tls_dir = tls_dir
        self.ssl_port = ssl_port
        self.mtls_port = mtls_port

    def ssl_config(self, port: int, client_cert: str | None = None, ca: Path | None = None) -> dict:
        config = {
            "bootstrap.servers": f"127.0.0.1:{port}",
            "security.protocol": "SSL",
            "ssl.ca.location": str(ca or self.tls_dir / "ca.pem"),
            # The node certificate carries IP SAN 127.0.0.1: keep librdkafka's hostname verification on.
            "ssl.endpoint.identification.algorithm": "https",
        }
        if client_cert:
            config["ssl.certificate.location"] = str(self.tls_dir / f"client-{client_cert}.pem")
            config["ssl.key.location"] = str(self.tls_dir / f"client-{client_cert}.key")
        return config


@pytest.fixture(scope="module")
def tls_node():
    directory = Path(tempfile.mkdtemp(prefix="skein-tls-test-"))
    tls_dir = directory / "tls"
    out = certs("--dir", str(tls_dir), "--nodes", "1", "--client", "app")
    assert out.returncode == 0, out.stderr
    ssl_port, mtls_port = free_port(), free_port()
    # Relative [tls] paths resolve against the config file's directory.
    extra = (
        f'\n[[listeners]]\nname = "SSL"\nhost = "127.0.0.1"\nport = {ssl_port}\nsecurity_protocol = "SSL"\n'
        f'\n[[listeners]]\nname = "MTLS"\nhost = "127.0.0.1"\nport = {mtls_port}\nsecurity_protocol = "SSL"\n'
        f'ssl_client_auth = "required"\n'
        f'\n[tls]\nca = "tls/ca.pem"\ncert = "tls/node-1.pem"\nkey = "tls/node-1.key"\n'
    )
    node = SkeinNode(directory, extra_config=extra).start()
    try:
        yield TLSNode(node, tls_dir, ssl_port, mtls_port)
    finally:
        node.kill()
        if os.environ.get("SKEIN_KEEP_TEST_DIRS") is None:
            shutil.rmtree(directory, ignore_errors=True)


def value(i: int) -> bytes:
    head = f"value-{i}-".encode()
    return head + bytes([i % 251]) * (VALUE_SIZE - len(head))


def produce(config: dict, topic: str, count: int):
    from confluent_kafka import Producer

    p = Producer({**config, "linger.ms": 20, "acks": "all"})
    errors = []
    for i in range(count):
        deadline = time.time() + 60
        while True:
            assert time.time() < deadline, "the producer's queue stayed full for 60 s"
            try:
                p.produce(topic, key=str(i).encode(), value=value(i), partition=0,
                          on_delivery=lambda err, msg: errors.append(err) if err else None)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(60) == 0
    assert errors == []


def consume(config: dict, topic: str, count: int) -> list:
    from confluent_kafka import Consumer, TopicPartition

    # A partition fetch limit far above 1 MiB, so one Fetch response carries megabytes of records through TLS.
    c = Consumer({**config, "group.id": "unused-assign-only", "enable.auto.commit": False,
                  "max.partition.fetch.bytes": 16 * 1024 * 1024, "fetch.max.bytes": 64 * 1024 * 1024,
                  "fetch.min.bytes": 2 * 1024 * 1024, "fetch.wait.max.ms": 500})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    try:
        while len(out) < count:
            batch = c.consume(1000, timeout=15)
            if not batch:
                break
            for m in batch:
                assert m.error() is None, m.error()
                out.append((m.offset(), m.key(), m.value()))
    finally:
        c.close()
    return out


def test_certs_create_writes_owner_only_keys_and_keeps_the_ca(tls_node):
    tls_dir = tls_node.tls_dir
    for name in ["ca.key", "node-1.key", "client-app.key"]:
        assert stat.S_IMODE(os.stat(tls_dir / name).st_mode) == 0o600, name
    ca_before = (tls_dir / "ca.pem").read_bytes()
    again = certs("--dir", str(tls_dir), "--nodes", "1")
    assert again.returncode != 0 and "already exists" in again.stderr
    added = certs("--dir", str(tls_dir), "--nodes", "2")
    assert added.returncode == 0, added.stderr
    assert "using the existing CA" in added.stdout and "node-2.pem" in added.stdout
    assert (tls_dir / "ca.pem").read_bytes() == ca_before


def test_metadata_advertises_the_listener_of_the_request(tls_node):
    from confluent_kafka.admin import AdminClient

    plain = AdminClient({"bootstrap.servers": tls_node.node.bootstrap}).list_topics(timeout=30)
    assert [b.port for b in plain.brokers.values()] == [tls_node.node.port]
    ssl = AdminClient(tls_node.ssl_config(tls_node.ssl_port)).list_topics(timeout=30)
    assert [b.port for b in ssl.brokers.values()] == [tls_node.ssl_port]


def test_produce_and_consume_over_ssl_with_large_fetches(tls_node, topic_name):
    create_topic(tls_node.node.bootstrap, topic_name)
    ssl = tls_node.ssl_config(tls_node.ssl_port)
    produce(ssl, topic_name, RECORDS)
    got = consume(ssl, topic_name, RECORDS)
    assert len(got) == RECORDS
    for i, (offset, key, v) in enumerate(got):
        assert offset == i and key == str(i).encode() and v == value(i), i
    # The same records through the plaintext listener (sendfile) are byte for byte the same.
    plain = consume({"bootstrap.servers": tls_node.node.bootstrap}, topic_name, RECORDS)
    assert plain == got


def test_a_client_must_trust_the_cluster_ca(tls_node, tmp_path):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    out = certs("--dir", str(tmp_path / "other"), "--nodes", "1")
    assert out.returncode == 0, out.stderr
    config = tls_node.ssl_config(tls_node.ssl_port, ca=tmp_path / "other" / "ca.pem")
    with pytest.raises(KafkaException):
        AdminClient(config).list_topics(timeout=5)


def test_required_client_authentication(tls_node, topic_name):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    with pytest.raises(KafkaException):
        AdminClient(tls_node.ssl_config(tls_node.mtls_port)).list_topics(timeout=5)

    authenticated = tls_node.ssl_config(tls_node.mtls_port, client_cert="app")
    metadata = AdminClient(authenticated).list_topics(timeout=30)
    assert [b.port for b in metadata.brokers.values()] == [tls_node.mtls_port]
    create_topic(tls_node.node.bootstrap, topic_name)
    produce(authenticated, topic_name, 100)
    got = consume(authenticated, topic_name, 100)
    assert [v for (_, _, v) in got] == [value(i) for i in range(100)]
