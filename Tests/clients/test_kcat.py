"""kcat (librdkafka from Debian) against a node: -L, -P, -C."""
import shutil
import subprocess

import pytest

from conftest import create_topic

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (apt-get install kcat)")


def kcat(*args, input=None):
    return subprocess.run(["kcat", *args], input=input, capture_output=True, text=True, timeout=60)


def test_metadata_lists_the_broker_and_topics(node, topic_name):
    create_topic(node.bootstrap, topic_name, partitions=3)
    out = kcat("-b", node.bootstrap, "-L")
    assert out.returncode == 0, out.stderr
    assert f"broker 1 at {node.bootstrap}" in out.stdout
    assert f'topic "{topic_name}" with 3 partitions' in out.stdout


def test_produce_then_consume_with_keys_headers_and_each_codec(node, topic_name):
    create_topic(node.bootstrap, topic_name, partitions=1)
    expected = []
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        lines = [f"{codec}-key-{i}:{codec}-value-{i}" for i in range(50)]
        out = kcat("-b", node.bootstrap, "-t", topic_name, "-P", "-p", "0", "-K:", "-z", codec, "-H", f"codec={codec}",
                   input="\n".join(lines) + "\n")
        assert out.returncode == 0, out.stderr
        expected += [(l.split(":")[0], l.split(":")[1], codec) for l in lines]
    out = kcat("-b", node.bootstrap, "-t", topic_name, "-C", "-o", "beginning", "-e", "-f", "%o|%k|%s|%h\n")
    assert out.returncode == 0, out.stderr
    got = [line.split("|") for line in out.stdout.splitlines() if line]
    assert [int(o) for o, _, _, _ in got] == list(range(len(expected)))
    assert [(k, v, h.split("=")[1]) for _, k, v, h in got] == expected


def test_consume_from_an_offset_and_the_end(node, topic_name):
    create_topic(node.bootstrap, topic_name)
    kcat("-b", node.bootstrap, "-t", topic_name, "-P", input="\n".join(f"m{i}" for i in range(10)) + "\n")
    out = kcat("-b", node.bootstrap, "-t", topic_name, "-C", "-o", "7", "-e", "-f", "%o %s\n")
    assert out.stdout.split("\n")[:3] == ["7 m7", "8 m8", "9 m9"]
    out = kcat("-b", node.bootstrap, "-t", topic_name, "-C", "-o", "-2", "-e", "-f", "%o %s\n")
    assert out.stdout.split("\n")[:2] == ["8 m8", "9 m9"]


def test_metrics_endpoint_reports_requests_bytes_and_partitions(node, topic_name):
    import urllib.request

    create_topic(node.bootstrap, topic_name, partitions=2)
    kcat("-b", node.bootstrap, "-t", topic_name, "-P", "-p", "1", input="a\nb\nc\n")
    body = urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/metrics", timeout=10).read().decode()
    assert 'skein_kafka_requests_total{api="Produce"}' in body
    assert 'skein_kafka_request_duration_seconds_count{api="Metadata"}' in body
    assert f'skein_partition_log_end_offset{{topic="{topic_name}",partition="1"}} 3' in body
    size_line = next(l for l in body.splitlines() if l.startswith(f'skein_partition_size_bytes{{topic="{topic_name}",partition="1"}}'))
    assert int(size_line.split()[-1]) > 0
    in_line = next(l for l in body.splitlines() if l.startswith("skein_record_bytes_in_total"))
    assert int(in_line.split()[-1]) > 0
