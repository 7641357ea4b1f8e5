"""A 3-node cluster of real `skein node` processes talking over mutual TLS: an RF=3 topic, confluent-kafka
producing with acks=all while the test SIGKILLs the leader of a partition, then another node, then restarts both.
Every acknowledged record must be read back at its acknowledged offset, in order per partition; the time from the
SIGKILL until a new leader takes a write is measured and printed."""
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import SkeinNode, free_port, skein_binary, wait_for


class ClusterNode(SkeinNode):
    def __init__(self, directory: Path, node_id: int, ports: dict, rpc_ports: dict, tls: Path, extra_config: str = ""):
        self.node_id = node_id
        directory.mkdir(parents=True, exist_ok=True)
        peers = ", ".join(
            f'{{ id = {i}, host = "127.0.0.1", port = {p} }}' for i, p in rpc_ports.items() if i != node_id
        )
        super().__init__(directory)
        self.port = ports[node_id]
        self.config_path.write_text(
            f'node_id = {node_id}\ncluster_id = "test-cluster"\ndata_dir = "{directory / "data"}"\n\n'
            f'[[listeners]]\nname = "PLAINTEXT"\nhost = "127.0.0.1"\nport = {self.port}\n\n'
            f'[tls]\nca = "{tls / "ca.pem"}"\ncert = "{tls / f"node-{node_id}.pem"}"\nkey = "{tls / f"node-{node_id}.key"}"\n\n'
            f"[http]\nport = {self.http_port}\n\n"
            f"[cluster]\nrpc_port = {rpc_ports[node_id]}\npeers = [ {peers} ]\n\n"
            f"[groups]\ninitial_rebalance_delay_ms = 0\nmin_session_timeout_ms = 1000\n"
            f"{extra_config}"
        )


@contextlib.contextmanager
def running_cluster(extra_config: str = "", prefix: str = "skein-cluster-", ids=(1, 2, 3)):
    """Started ClusterNodes {node id: node} (three unless `ids` says otherwise; extra_config is appended to each
    TOML), SIGKILLed and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    tls = root / "tls"
    subprocess.run([skein_binary(), "certs", "create", "--dir", str(tls), "--nodes", ",".join(map(str, ids))],
                   check=True, capture_output=True)
    ports = {i: free_port() for i in ids}
    rpc_ports = {i: free_port() for i in ids}
    nodes = {i: ClusterNode(root / f"n{i}", i, ports, rpc_ports, tls, extra_config) for i in ids}
    try:
        for n in nodes.values():
            n.start()
        # Formed: every node lists every node as a broker (each has registered with the controller).
        wait_for(lambda: all(brokers_seen(n) == set(ids) for n in nodes.values()), timeout=60,
                 message="the cluster did not form")
        yield nodes
    finally:
        for n in nodes.values():
            n.kill()
        if os.environ.get("SKEIN_KEEP_TEST_DIRS") is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")


def brokers_seen(node) -> set:
    """The broker ids a node's Metadata lists (empty when it does not answer)."""
    try:
        return set(AdminClient({"bootstrap.servers": node.bootstrap}).list_topics(timeout=2).brokers)
    except Exception:
        return set()


@pytest.fixture(scope="module")
def cluster():
    with running_cluster() as nodes:
        yield nodes


def bootstrap(nodes) -> str:
    return ",".join(n.bootstrap for n in nodes.values())


def partition_leaders(nodes, topic, alive=None):
    """Partition -> leader id as the live nodes report it (-1 while there is none)."""
    for n in nodes.values():
        if alive is not None and n.node_id not in alive:
            continue
        admin = AdminClient({"bootstrap.servers": n.bootstrap})
        try:
            md = admin.list_topics(topic, timeout=2)
        except Exception:
            continue
        t = md.topics.get(topic)
        if t is not None and t.error is None and t.partitions:
            return {p.id: p.leader for p in t.partitions.values()}
    return {}


def watermarks(consumer, topic, partition):
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
    except Exception:
        return None


def test_cluster_forms_and_reports_three_brokers(cluster):
    admin = AdminClient({"bootstrap.servers": bootstrap(cluster)})

    def three():
        try:
            md = admin.list_topics(timeout=5)
        except Exception:
            return False
        return len(md.brokers) == 3 and md.controller_id in (1, 2, 3)
    wait_for(three)


def test_rf_above_node_count_is_refused(cluster):
    admin = AdminClient({"bootstrap.servers": bootstrap(cluster)})
    f = admin.create_topics([NewTopic("too-many", num_partitions=1, replication_factor=4)])["too-many"]
    with pytest.raises(Exception) as e:
        f.result(timeout=30)
    assert "INVALID_REPLICATION_FACTOR" in str(e.value) or "larger than available brokers" in str(e.value)


def test_acks_all_survives_leader_kill_and_second_kill(cluster):
    topic = "replicated"
    admin = AdminClient({"bootstrap.servers": bootstrap(cluster)})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(timeout=30)
    wait_for(lambda: (lambda l: len(l) == 3 and all(v >= 0 for v in l.values()))(partition_leaders(cluster, topic)))

    acked = {}  # (partition, offset) -> value
    errors = []
    lock = threading.Lock()
    stop = threading.Event()
    first_ack_after = {}

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
            return
        with lock:
            acked[(msg.partition(), msg.offset())] = msg.value()
            for mark in list(first_ack_after):
                if first_ack_after[mark] is None and msg.partition() == mark[1] and time.time() > mark[0]:
                    first_ack_after[mark] = time.time()

    # Idempotent: retries through the failovers must neither duplicate nor reorder a record.
    producer = Producer({
        "bootstrap.servers": bootstrap(cluster), "acks": "all", "enable.idempotence": True,
        "message.timeout.ms": 120000, "retry.backoff.ms": 50, "linger.ms": 5,
        "topic.metadata.refresh.interval.ms": 500,
    })

    def produce_loop():
        i = 0
        while not stop.is_set():
            try:
                producer.produce(topic, value=f"v{i:08d}".encode(), partition=i % 3, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            producer.poll(0.002)
        producer.flush(120)

    thread = threading.Thread(target=produce_loop)
    thread.start()
    try:
        wait_for(lambda: len(acked) > 500)
        leaders = partition_leaders(cluster, topic)
        victim = leaders[0]
        killed_at = time.time()
        mark = (killed_at, 0)
        first_ack_after[mark] = None
        cluster[victim].kill()
        alive = {i for i in cluster if i != victim}
        new_leader = wait_for(lambda: (lambda l: l.get(0, -1) not in (-1, victim) and l[0])(
            partition_leaders(cluster, topic, alive)), timeout=30, interval=0.02)
        elected = time.time() - killed_at
        wait_for(lambda: first_ack_after[mark] is not None, timeout=60)
        serving = first_ack_after[mark] - killed_at
        print(f"\nfailover: node {victim} killed; node {new_leader} leads partition 0 after {elected:.3f} s; "
              f"first acks=all write acknowledged on partition 0 after {serving:.3f} s")

        # Another node goes: one of three left, no majority. Writes wait and none is acknowledged. Positive
        # signals first: the survivor names no leader for any partition (its leaders stepped down for want of a
        # quorum), and the producer has sent and queued hundreds of records since.
        second = next(i for i in alive if i != new_leader)
        cluster[second].kill()
        survivor = {new_leader}
        wait_for(lambda: (lambda l: len(l) == 3 and all(v == -1 for v in l.values()))(
            partition_leaders(cluster, topic, survivor)), timeout=30, interval=0.1,
            message="the survivor still names a leader")
        before = len(acked)
        queued = len(producer)
        wait_for(lambda: len(producer) >= queued + 300, timeout=30, message="the producer queued nothing more")
        assert partition_leaders(cluster, topic, survivor) == {0: -1, 1: -1, 2: -1}
        stalled = len(acked) - before
        assert stalled == 0, f"{stalled} writes acknowledged with one of three nodes alive"
        # Both come back; the cluster catches up and takes writes again.
        cluster[victim].start()
        cluster[second].start()
        wait_for(lambda: len(acked) > before + stalled + 1500, timeout=90)
    finally:
        stop.set()
        thread.join(180)
    assert not errors, errors[:5]

    # Everything acknowledged is there, at its offset, in order, on every partition.
    consumer = Consumer({"bootstrap.servers": bootstrap(cluster), "group.id": "unused", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    seen = {}
    values = {p: [] for p in range(3)}
    offsets = {p: [] for p in range(3)}
    ends = {}
    for p in range(3):
        # Leaders may still be settling after the restarts: ask until one answers.
        ends[p] = wait_for(lambda: (lambda w: w and w[1])(watermarks(consumer, topic, p)), timeout=60)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
    deadline = time.time() + 120
    while time.time() < deadline and any(seen.get(p, -1) + 1 < ends[p] for p in range(3)):
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        key = (msg.partition(), msg.offset())
        assert key not in acked or acked[key] == msg.value(), f"offset {key} holds {msg.value()} not {acked[key]}"
        acked.pop(key, None)
        assert msg.offset() > seen.get(msg.partition(), -1), f"offsets go back at {key}"
        seen[msg.partition()] = msg.offset()
        offsets[msg.partition()].append(msg.offset())
        values[msg.partition()].append(msg.value())
    consumer.close()
    assert not acked, f"{len(acked)} acknowledged records missing, e.g. {sorted(acked)[:5]}"
    # Each record once, in the order produced (values count up per partition), at offsets dense from 0: the
    # elections took none (Kafka's offsets).
    for p, vs in values.items():
        assert offsets[p] == list(range(ends[p])), f"partition {p}: offsets not dense from 0"
        assert len(set(vs)) == len(vs), f"partition {p}: {len(vs) - len(set(vs))} duplicated records"
        assert vs == sorted(vs), f"partition {p}: records out of order"
    print(f"read back {sum(len(v) for v in values.values())} records once each, in order")

    # With every node back, leaderships return to the preferred replicas (the first of each replica set).
    def preferred_everywhere():
        try:
            md = AdminClient({"bootstrap.servers": bootstrap(cluster)}).list_topics(topic, timeout=5)
        except Exception:
            return False
        parts = md.topics[topic].partitions.values()
        return len(parts) == 3 and all(p.leader == p.replicas[0] for p in parts)
    wait_for(preferred_everywhere, timeout=30, interval=0.2)


def test_configs_and_partitions_through_the_controller(cluster):
    from confluent_kafka.admin import ConfigResource, ConfigEntry, AlterConfigOpType, NewPartitions

    topic = "admin-ops"
    admin = AdminClient({"bootstrap.servers": bootstrap(cluster)})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=3)])[topic].result(timeout=30)
    resource = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)

    def retention_everywhere():
        for n in cluster.values():
            a = AdminClient({"bootstrap.servers": n.bootstrap})
            r = ConfigResource("topic", topic)
            try:
                configs = a.describe_configs([r])[r].result(timeout=10)
            except Exception:
                return False
            if configs["retention.ms"].value != "3600000":
                return False
        return True
    wait_for(retention_everywhere, timeout=30)

    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(timeout=30)
    wait_for(lambda: (lambda l: len(l) == 5 and all(v >= 0 for v in l.values()))(partition_leaders(cluster, topic)))
    producer = Producer({"bootstrap.servers": bootstrap(cluster), "acks": "all", "enable.idempotence": False})
    delivered = []
    for p in range(5):
        producer.produce(topic, value=b"x", partition=p, on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(30)
    assert delivered == [None] * 5

    with pytest.raises(Exception) as e:
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(timeout=30)
    assert "INVALID_PARTITIONS" in str(e.value) or "higher than" in str(e.value)


def test_delete_records_moves_the_log_start_on_every_replica(cluster):
    topic = "trimmed"
    admin = AdminClient({"bootstrap.servers": bootstrap(cluster)})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])[topic].result(timeout=30)
    wait_for(lambda: partition_leaders(cluster, topic).get(0, -1) >= 0)
    producer = Producer({"bootstrap.servers": bootstrap(cluster), "acks": "all", "linger.ms": 0})
    for i in range(100):
        producer.produce(topic, value=f"r{i}".encode(), partition=0)
        producer.flush(30)  # one batch per record, so that the cut lands between batches and inside none
    result = admin.delete_records([TopicPartition(topic, 0, 60)])
    deleted = list(result.values())[0].result(timeout=30)
    assert deleted.low_watermark == 60
    # Beyond the high watermark: OFFSET_OUT_OF_RANGE.
    with pytest.raises(Exception) as e:
        list(admin.delete_records([TopicPartition(topic, 0, 10_000)]).values())[0].result(timeout=30)
    assert "OFFSET_OUT_OF_RANGE" in str(e.value) or "out of range" in str(e.value).lower()

    # Every replica applied it: whichever node leads next reports the same log start. Move leadership around by
    # stopping the leader (SIGTERM hands over), and read the low watermark from the new one.
    leader = partition_leaders(cluster, topic)[0]
    cluster[leader].stop()
    alive = {i for i in cluster if i != leader}
    wait_for(lambda: partition_leaders(cluster, topic, alive).get(0, -1) in alive, timeout=30)
    consumer = Consumer({"bootstrap.servers": ",".join(cluster[i].bootstrap for i in alive), "group.id": "unused",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    low, high = wait_for(lambda: watermarks(consumer, topic, 0), timeout=30)
    assert low == 60 and high >= 100
    consumer.assign([TopicPartition(topic, 0, 0)])  # below the log start: reset to earliest
    msg = None
    deadline = time.time() + 30
    while msg is None and time.time() < deadline:
        m = consumer.poll(1.0)
        if m is not None and not m.error():
            msg = m
    consumer.close()
    assert msg is not None and msg.offset() >= 60
    cluster[leader].start()


def test_consumer_group_survives_a_sigkill_of_its_coordinator(cluster):
    """A group's coordinator is the leader of the __consumer_offsets partition the group id hashes to. SIGKILL that
    node while a member consumes and commits: the member finds the new coordinator, which loaded the group and its
    offsets from the replicated log, and goes on; a new member of the group then starts at the committed offsets:
    nothing lost, nothing read again."""
    for n in cluster.values():
        if not n.alive():
            n.start()
    topic = "group-failover"
    admin = AdminClient({"bootstrap.servers": bootstrap(cluster)})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=3)])[topic].result(timeout=30)
    wait_for(lambda: all(l > 0 for l in partition_leaders(cluster, topic).values()) and partition_leaders(cluster, topic))
    producer = Producer({"bootstrap.servers": bootstrap(cluster), "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5})

    def produce(prefix, count):
        for i in range(count):
            producer.produce(topic, key=f"{prefix}{i}".encode(), value=f"{prefix}{i}".encode())
        assert producer.flush(60) == 0
        return {f"{prefix}{i}" for i in range(count)}

    group = "failover-group"
    member_config = {"bootstrap.servers": bootstrap(cluster), "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 10000, "heartbeat.interval.ms": 500}
    first = produce("a", 400)
    member = Consumer(member_config)
    member.subscribe([topic])
    seen = set()

    def consume_until(want, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline and not want <= seen:
            msg = member.poll(0.2)
            if msg is None or msg.error():
                continue
            seen.add(msg.value().decode())
            try:
                member.commit(message=msg, asynchronous=False)
            except Exception:
                pass  # the coordinator is moving; a later commit covers this offset
        return want <= seen

    assert consume_until(first)
    coordinator = wait_for(lambda: admin.describe_consumer_groups([group])[group].result(timeout=10).coordinator.id)
    killed_at = time.time()
    cluster[coordinator].kill()
    second = produce("b", 400)
    assert consume_until(second), f"missing after the coordinator's SIGKILL: {len(second - seen)}"
    print(f"\ncoordinator {coordinator} SIGKILLed; member consumed and committed through it in "
          f"{time.time() - killed_at:.2f} s")
    # A commit that failed while the coordinator moved is covered by the member's final commit of its positions
    # (what a consumer does before it leaves); it goes to the new coordinator and must be acknowledged.
    def final_commit():
        try:
            positions = member.position(member.assignment())
            member.commit(offsets=positions, asynchronous=False)
            committed = member.committed(member.assignment(), timeout=10)
            # (TopicPartition's == ignores offsets.)
            return sorted((tp.partition, tp.offset) for tp in committed) == \
                sorted((tp.partition, tp.offset) for tp in positions)
        except Exception:
            return False
    assert wait_for(final_commit, timeout=30, interval=0.5)
    member.close()

    # A new member starts at the committed offsets: it gets exactly the new records.
    third = produce("c", 100)
    successor = Consumer(member_config)
    successor.subscribe([topic])
    got = []
    deadline = time.time() + 60
    while time.time() < deadline and not third <= set(got):
        msg = successor.poll(0.2)
        if msg is not None and not msg.error():
            got.append(msg.value().decode())
    successor.close()
    assert set(got) == third, f"read again: {sorted(set(got) - third)[:10]}"
    cluster[coordinator].start()


def test_schema_registry_on_every_node_survives_a_sigkill_of_the_schemas_leader(cluster):
    """Registrations through every node (followers forward writes to the _schemas leader) while the leader is
    SIGKILLed: every registration that was answered keeps its id, no id is handed out twice, and every node serves
    the same subjects once caught up."""
    import json as _json

    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    for n in cluster.values():
        if not n.alive():
            n.start()
    clients = {i: SchemaRegistryClient({"url": f"http://127.0.0.1:{n.http_port}"}) for i, n in cluster.items()}

    def schema(i):
        return Schema(_json.dumps({"type": "record", "name": f"R{i}", "fields": [{"name": "f", "type": "string"}]}),
                      "AVRO")

    def register(i, alive):
        # Like any client after a failure: retry through the next node until one answers.
        deadline = time.time() + 60
        while time.time() < deadline:
            # Through every node in turn: followers forward writes to the leader.
            for node_id in alive[i % len(alive):] + alive[:i % len(alive)]:
                try:
                    schema_id = clients[node_id].register_schema(f"subject-{i}", schema(i))
                except SchemaRegistryError as e:
                    if e.http_status_code < 500:
                        raise
                    continue
                except Exception:
                    continue
                # Read-your-writes on the node written through, leader or follower.
                import urllib.request
                url = f"http://127.0.0.1:{cluster[node_id].http_port}/subjects/subject-{i}/versions/latest"
                with urllib.request.urlopen(url) as r:
                    assert _json.loads(r.read())["id"] == schema_id, f"node {node_id} did not see its own write"
                return schema_id
            time.sleep(0.2)
        raise AssertionError(f"registration {i} never answered")

    ids = {}
    alive = list(cluster)
    for i in range(10):
        ids[i] = register(i, alive)
    leader = wait_for(lambda: partition_leaders(cluster, "_schemas").get(0, -1) > 0 and
                      partition_leaders(cluster, "_schemas")[0])
    cluster[leader].kill()
    alive = [i for i in cluster if i != leader]
    for i in range(10, 30):
        ids[i] = register(i, alive)
    assert len(set(ids.values())) == len(ids), f"an id was handed out twice: {ids}"
    cluster[leader].start()
    alive = list(cluster)

    def everyone_agrees():
        for node_id in alive:
            try:
                for i, schema_id in ids.items():
                    version = clients[node_id].get_latest_version(f"subject-{i}")
                    if version.schema_id != schema_id:
                        return False
            except Exception:
                return False
        return True

    assert wait_for(everyone_agrees, timeout=60, interval=0.5), "a node serves different ids"


def test_avro_written_through_one_node_is_read_through_another(cluster):
    """AvroSerializer with node 1's registry writes to an RF=3 topic; AvroDeserializer with node 3's registry (which
    learns the schema from its own _schemas replica) reads every record back through node 2."""
    import json as _json

    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    for n in cluster.values():
        if not n.alive():
            n.start()
    topic = "avro-across-nodes"
    admin = AdminClient({"bootstrap.servers": bootstrap(cluster)})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=3)])[topic].result(timeout=30)
    wait_for(lambda: partition_leaders(cluster, topic) and all(l > 0 for l in partition_leaders(cluster, topic).values()))
    schema = {"type": "record", "name": "Payment", "fields": [{"name": "id", "type": "long"},
                                                               {"name": "memo", "type": "string"}]}
    writer = AvroSerializer(SchemaRegistryClient({"url": f"http://127.0.0.1:{cluster[1].http_port}"}),
                            _json.dumps(schema))
    producer = Producer({"bootstrap.servers": cluster[1].bootstrap, "acks": "all"})
    payments = [{"id": i, "memo": f"m{i}"} for i in range(50)]
    for p in payments:
        producer.produce(topic, key=str(p["id"]).encode(),
                         value=writer(p, SerializationContext(topic, MessageField.VALUE)))
    assert producer.flush(30) == 0
    reader = AvroDeserializer(SchemaRegistryClient({"url": f"http://127.0.0.1:{cluster[3].http_port}"}))
    consumer = Consumer({"bootstrap.servers": cluster[2].bootstrap, "group.id": "avro-reader",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = []
    deadline = time.time() + 60
    while time.time() < deadline and len(got) < len(payments):
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        got.append(reader(msg.value(), SerializationContext(topic, MessageField.VALUE)))
    consumer.close()
    assert sorted(got, key=lambda p: p["id"]) == payments
