"""The skein CLI against a node: topic verbs, produce/consume, and a small bench run; kcat reads what skein wrote."""
import json
import os
import shutil
import subprocess

from conftest import skein_binary


def skein(node, *args, input=None):
    env = dict(os.environ, SKEIN_BROKERS=node.bootstrap)
    return subprocess.run([skein_binary(), *args], input=input, capture_output=True, text=True, timeout=120, env=env)


def test_topic_verbs_produce_and_consume(node, topic_name):
    out = skein(node, "topic", "create", topic_name, "--partitions", "3", "--config", "retention.ms=3600000")
    assert out.returncode == 0, out.stderr
    again = skein(node, "topic", "create", topic_name)
    assert again.returncode == 1 and "TOPIC_ALREADY_EXISTS" in again.stderr
    assert topic_name in skein(node, "topic", "list").stdout
    before_verb = subprocess.run([skein_binary(), "--brokers", node.bootstrap, "topic", "list"], capture_output=True,
                                 text=True, timeout=60, env={k: v for k, v in os.environ.items() if k != "SKEIN_BROKERS"})
    assert topic_name in before_verb.stdout, before_verb.stderr
    described = skein(node, "topic", "describe", topic_name)
    assert "retention.ms=3600000" in described.stdout

    lines = "".join(f"key-{i}:value-{i}\n" for i in range(300))
    out = skein(node, "produce", topic_name, "--key-separator", ":", "--header", "source=test", "--compression", "zstd",
                input=lines)
    assert out.returncode == 0, out.stderr
    out = skein(node, "consume", topic_name, "--from-beginning", "--exit-at-end", "--format", "json")
    assert out.returncode == 0, out.stderr
    records = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    assert sorted((r["key"], r["value"]) for r in records) == sorted((f"key-{i}", f"value-{i}") for i in range(300))
    assert all(r["headers"] == [{"key": "source", "value": "test"}] for r in records)
    by_key = {r["key"]: r["partition"] for r in records}
    # Keyed placement is the Java client's murmur2: every record of one key on one partition.
    assert len({by_key[f"key-{i}"] for i in range(300)}) > 1

    if shutil.which("kcat"):
        seen = subprocess.run(["kcat", "-b", node.bootstrap, "-t", topic_name, "-C", "-o", "beginning", "-e",
                               "-f", "%k\n"], capture_output=True, text=True, timeout=60).stdout.split()
        assert sorted(seen) == sorted(f"key-{i}" for i in range(300))

    out = skein(node, "topic", "alter-config", topic_name, "--set", "cleanup.policy=compact", "--delete", "retention.ms")
    assert out.returncode == 0, out.stderr
    described = skein(node, "topic", "describe", topic_name).stdout
    assert "cleanup.policy=compact" in described
    assert skein(node, "topic", "delete", topic_name).returncode == 0
    assert topic_name not in skein(node, "topic", "list").stdout


def test_bench_produce_and_consume_report_figures(node, topic_name):
    out = skein(node, "bench", "produce", "--topic", topic_name, "--records", "20000", "--partitions", "2")
    assert out.returncode == 0, out.stderr
    assert "records/s" in out.stdout and "p99" in out.stdout
    out = skein(node, "bench", "consume", "--topic", topic_name)
    assert out.returncode == 0, out.stderr
    assert "consumed 20000 records" in out.stdout
