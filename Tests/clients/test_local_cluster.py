"""`skein cluster up|status|kill|start|stop|down` as a new user runs them: a local 3-node cluster of real processes
that find each other by gossip, used by kcat with the printed bootstrap list; a killed node shows as dead and out of
Metadata, its partitions get new leaders, writes go on; started again it rejoins. A fourth node with another gossip
key never joins."""
import base64
import json
import os
import urllib.request
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import skein_binary, wait_for


def ports_free(base: int, nodes: int) -> bool:
    for offset in (0, 100, 200, 300, 400):
        for i in range(1, nodes + 2):
            kind = socket.SOCK_DGRAM if offset == 200 else socket.SOCK_STREAM
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind(("127.0.0.1", base + offset + i))
                except OSError:
                    return False
    return True


def free_base(nodes: int) -> int:
    for _ in range(200):
        # Below the ephemeral range (32768 and up on Linux), so no client connection takes a port meanwhile.
        base = random.randrange(20000, 32000 - 500, 10)
        if ports_free(base, nodes):
            return base
    raise RuntimeError("no free port range")


def skein(*args, check=True, timeout=120) -> str:
    r = subprocess.run([skein_binary(), *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"skein {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout + r.stderr


def kcat(*args, input=None, timeout=60) -> str:
    r = subprocess.run(["kcat", *args], input=input, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


def status_rows(out: str) -> dict:
    """node id -> (process, gossip, in metadata) from `skein cluster status`."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(\d+)\s+(running \(pid \d+\)|down)\s+(\S+(?:, controller)?|-)\s+(broker|absent|\?)\s", line)
        if m:
            rows[int(m.group(1))] = (m.group(2).split(" ")[0], m.group(3).split(",")[0], m.group(4))
    return rows


def http_json(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def local_cluster():
    root = Path(tempfile.mkdtemp(prefix="skein-local-"))
    directory = root / "cluster"
    base = free_base(3)
    try:
        yield directory, base
    finally:
        subprocess.run([skein_binary(), "cluster", "down", "--dir", str(directory)], capture_output=True, timeout=60)
        # Whatever survived a failed test.
        for pid_file in directory.glob("*.pid"):
            try:
                subprocess.run(["kill", "-9", pid_file.read_text().strip()], capture_output=True)
            except OSError:
                pass
        shutil.rmtree(root, ignore_errors=True)


def test_up_kill_status_start_down(local_cluster):
    directory, base = local_cluster
    out = skein("cluster", "up", "--nodes", "3", "--dir", str(directory), "--base-port", str(base))
    m = re.search(r"^bootstrap: (\S+)$", out, re.M)
    assert m, out
    bootstrap = m.group(1)
    assert bootstrap == ",".join(f"127.0.0.1:{base + i}" for i in (1, 2, 3))
    # Private material is private.
    assert (directory / "cluster.json").stat().st_mode & 0o077 == 0
    assert (directory / "tls" / "node-1.key").stat().st_mode & 0o077 == 0

    rows = status_rows(skein("cluster", "status", "--dir", str(directory)))
    assert rows == {i: ("running", "alive", "broker") for i in (1, 2, 3)}, rows

    # kcat with the printed bootstrap list: the brokers, then a replicated topic written with acks=all.
    listing = kcat("-b", bootstrap, "-L")
    assert "3 brokers" in listing, listing
    skein("--brokers", bootstrap, "topic", "create", "orders", "--partitions", "3", "--replicas", "3")
    kcat("-b", bootstrap, "-t", "orders", "-P", "-X", "acks=all", input="".join(f"a{i}\n" for i in range(300)))

    # A crash: node 2 is declared dead by gossip, the controller drops it from Metadata, its partitions move.
    skein("cluster", "kill", "2", "--dir", str(directory))
    rows = wait_for(
        lambda: (r := status_rows(skein("cluster", "status", "--dir", str(directory)))).get(2) == ("down", "dead", "absent")
        and r)
    assert rows[1][0] == "running" and rows[3][0] == "running"
    status = skein("cluster", "status", "--dir", str(directory))
    assert re.search(r"under-replicated or leaderless: 3", status), status

    def leaders_off_node_2():
        md = json.loads(kcat("-b", f"127.0.0.1:{base + 1}", "-L", "-J", "-t", "orders"))
        leaders = [p["leader"] for t in md["topics"] for p in t["partitions"]]
        return len(leaders) == 3 and all(l in (1, 3) for l in leaders) and md

    md = wait_for(leaders_off_node_2)
    assert sorted(b["id"] for b in md["brokers"]) == [1, 3]
    survivors = f"127.0.0.1:{base + 1},127.0.0.1:{base + 3}"
    kcat("-b", survivors, "-t", "orders", "-P", "-X", "acks=all", input="".join(f"b{i}\n" for i in range(300)))

    # Back: alive, a broker again, caught up.
    skein("cluster", "start", "2", "--dir", str(directory))
    wait_for(lambda: status_rows(skein("cluster", "status", "--dir", str(directory))).get(2) == ("running", "alive", "broker"))
    wait_for(lambda: "under-replicated or leaderless: 0" in skein("cluster", "status", "--dir", str(directory)))
    values = kcat("-b", f"127.0.0.1:{base + 2}", "-t", "orders", "-C", "-o", "beginning", "-e", "-q").split()
    assert sorted(values) == sorted([f"a{i}" for i in range(300)] + [f"b{i}" for i in range(300)])

    # A graceful stop is a leave, not a death.
    skein("cluster", "stop", "3", "--dir", str(directory))
    wait_for(lambda: status_rows(skein("cluster", "status", "--dir", str(directory))).get(3) == ("down", "left", "absent"))
    skein("cluster", "start", "3", "--dir", str(directory))
    wait_for(lambda: status_rows(skein("cluster", "status", "--dir", str(directory))).get(3) == ("running", "alive", "broker"))


def test_a_node_with_another_gossip_key_never_joins(local_cluster):
    directory, base = local_cluster
    skein("cluster", "up", "--dir", str(directory))  # running already, or started again
    skein("certs", "create", "--dir", str(directory / "tls"), "--nodes", "4")  # the cluster's own CA signs it
    config = (directory / "node-3.toml").read_text()
    other_key = base64.b64encode(os.urandom(32)).decode()
    config = config.replace("node_id = 3", "node_id = 4").replace("node-3", "node-4")
    for offset in (0, 100, 200, 300, 400):
        config = config.replace(f"port = {base + offset + 3}", f"port = {base + offset + 4}")
    config = re.sub(r'keys = \["[^"]+"\]', f'keys = ["{other_key}"]', config)
    (directory / "node-4.toml").write_text(config)
    log = open(directory / "node-4.log", "ab")
    dropped_before = http_json(base + 301, "/v1/cluster")["gossip"]["droppedUnsealed"]
    intruder = subprocess.Popen([skein_binary(), "node", "--config", str(directory / "node-4.toml")], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        # The positive signal that the intruder tried: it sent join datagrams, and node 1 dropped datagrams it
        # could not open (sealed with another key).
        def tried():
            try:
                own = http_json(base + 304, "/v1/cluster")["gossip"]
                dropped = http_json(base + 301, "/v1/cluster")["gossip"]["droppedUnsealed"]
            except Exception:
                return False
            return own["sent"] >= 5 and dropped >= dropped_before + 3
        wait_for(tried, timeout=30, message="the intruder's datagrams never reached node 1")
        assert intruder.poll() is None, (directory / "node-4.log").read_text()[-2000:]
        view = http_json(base + 301, "/v1/cluster")
        assert sorted(m["id"] for m in view["members"]) == [1, 2, 3], view
        # What gossip says of each member: its Kafka listeners, RPC and HTTP addresses, version.
        for m in view["members"]:
            assert {"kafka", "rpc", "http", "version"} <= set(m["metadata"]), m
            assert m["metadata"]["http"] == f"127.0.0.1:{base + 300 + m['id']}", m
        md = json.loads(kcat("-b", f"127.0.0.1:{base + 1}", "-L", "-J"))
        assert sorted(b["id"] for b in md["brokers"]) == [1, 2, 3]
        # The intruder itself knows nobody: its own view is itself alone.
        own = http_json(base + 304, "/v1/cluster")
        assert [m["id"] for m in own["members"]] == [4], own
    finally:
        intruder.kill()
        intruder.wait(timeout=10)
