"""Real-client tests: each test module gets a real `skein node` process on free ports, in a temporary data
directory, killed and removed afterwards. The binary comes from SKEIN_BIN or .build/debug/skein."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def skein_binary() -> str:
    path = os.environ.get("SKEIN_BIN") or str(ROOT / ".build" / "debug" / "skein")
    if not os.path.exists(path):
        pytest.exit(f"skein binary not found at {path}: run `swift build --product skein` first", returncode=2)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SkeinNode:
    """One node process. `restart()` keeps the data directory; `kill()` is SIGKILL."""

    def __init__(self, directory: Path, extra_config: str = ""):
        self.directory = directory
        self.port = free_port()
        self.http_port = free_port()
        self.config_path = directory / "node.toml"
        self.config_path.write_text(
            f'node_id = 1\ndata_dir = "{directory / "data"}"\n\n'
            f'[[listeners]]\nname = "PLAINTEXT"\nhost = "127.0.0.1"\nport = {self.port}\n\n'
            f"[http]\nport = {self.http_port}\n{extra_config}"
        )
        self.process = None
        self.log_path = directory / "node.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [skein_binary(), "node", "--config", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("node did not start listening within 30 s")

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self):
        self.stop()
        return self.start()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@contextlib.contextmanager
def running_node(prefix: str = "skein-test-", extra_config: str = ""):
    """A started SkeinNode in a fresh temporary directory (extra_config is appended to its TOML), SIGKILLed and
    removed afterwards. For module fixtures that need their own config sections."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    n = SkeinNode(directory, extra_config=extra_config).start()
    try:
        yield n
    finally:
        n.kill()
        if os.environ.get("SKEIN_KEEP_TEST_DIRS") is None:
            shutil.rmtree(directory, ignore_errors=True)


def wait_for(condition, timeout=30.0, interval=0.1, message="condition not met in time"):
    """Polls `condition` until it returns a truthy value, which is returned; fails the test after `timeout` s."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} (last value: {last!r})")


@pytest.fixture(scope="module")
def node():
    with running_node() as n:
        yield n


@pytest.fixture
def topic_name():
    return f"t-{uuid.uuid4().hex[:10]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})])
    futures[name].result(timeout=30)
