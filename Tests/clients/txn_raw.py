"""A few Kafka transaction RPCs on a raw socket, with struct, for tests that need exact error codes (clients hide
them behind their own retry and error mapping). Field layouts follow Kafka's message JSON
(/work/shared/kafka-protocol/messages). Non-flexible versions use request header v1 / response header v0; flexible
ones request header v2 / response header v1 (tagged fields after the correlation id)."""
import socket
import struct
import time

# Kafka error codes used by the transaction tests.
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
INVALID_TRANSACTION_TIMEOUT = 50
CONCURRENT_TRANSACTIONS = 51
OPERATION_NOT_ATTEMPTED = 55
PRODUCER_FENCED = 90
TRANSACTIONAL_ID_NOT_FOUND = 105

COORDINATOR_RETRIABLE = (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR)


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class Writer:
    def __init__(self, flexible: bool):
        self.flexible = flexible
        self.buf = bytearray()

    def i8(self, v):
        self.buf += struct.pack(">b", v)
        return self

    def bool(self, v):
        return self.i8(1 if v else 0)

    def i16(self, v):
        self.buf += struct.pack(">h", v)
        return self

    def i32(self, v):
        self.buf += struct.pack(">i", v)
        return self

    def i64(self, v):
        self.buf += struct.pack(">q", v)
        return self

    def string(self, s):
        if s is None:
            self.buf += _uvarint(0) if self.flexible else struct.pack(">h", -1)
            return self
        data = s.encode()
        self.buf += _uvarint(len(data) + 1) if self.flexible else struct.pack(">h", len(data))
        self.buf += data
        return self

    def array(self, items, write_item):
        items = list(items)
        self.buf += _uvarint(len(items) + 1) if self.flexible else struct.pack(">i", len(items))
        for item in items:
            write_item(self, item)
        return self

    def tags(self):
        if self.flexible:
            self.buf += _uvarint(0)
        return self


class Reader:
    def __init__(self, data: bytes, flexible: bool):
        self.data = data
        self.pos = 0
        self.flexible = flexible

    def _take(self, fmt):
        size = struct.calcsize(fmt)
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def i8(self):
        return self._take(">b")

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def uvarint(self):
        shift = value = 0
        while True:
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def string(self):
        if self.flexible:
            n = self.uvarint() - 1
        else:
            n = self.i16()
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def array(self, read_item):
        n = self.uvarint() - 1 if self.flexible else self.i32()
        return [read_item(self) for _ in range(max(n, 0))]

    def tags(self):
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.pos += self.uvarint()


_correlation = [100]


def call(address: str, api_key: int, version: int, body: Writer, timeout: float = 10.0) -> Reader:
    """Sends one request and returns a Reader positioned at the response body."""
    host, port = address.rsplit(":", 1)
    _correlation[0] += 1
    correlation = _correlation[0]
    client = b"txn-raw-test"
    header = struct.pack(">hhih", api_key, version, correlation, len(client)) + client
    if body.flexible:
        header += _uvarint(0)  # request header v2: tagged fields
    frame = header + bytes(body.buf)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _recv_exactly(s, 4))[0]
        data = _recv_exactly(s, size)
    reader = Reader(data, body.flexible)
    got = reader.i32()
    assert got == correlation, f"correlation id {got}, expected {correlation}"
    reader.tags()  # response header v1 (flexible versions only)
    return reader


def _recv_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        out += chunk
    return bytes(out)


# --- FindCoordinator (10) v1 ------------------------------------------------------------------------------------

def find_coordinator(address: str, key: str, key_type: int = 1):
    """FindCoordinator v1: (error code, node id, host, port). key_type 0 = group, 1 = transaction."""
    r = call(address, 10, 1, Writer(False).string(key).i8(key_type))
    r.i32()  # throttle
    error = r.i16()
    r.string()  # error message
    node_id = r.i32()
    host = r.string()
    port = r.i32()
    return error, node_id, host, port


def find_coordinator_retrying(address: str, key: str, key_type: int = 1, timeout: float = 30.0):
    """FindCoordinator until it answers with something other than a coordinator-loading error (or the timeout)."""
    deadline = time.time() + timeout
    while True:
        result = find_coordinator(address, key, key_type)
        if result[0] not in COORDINATOR_RETRIABLE or time.time() > deadline:
            return result
        time.sleep(0.2)


# --- InitProducerId (22) ----------------------------------------------------------------------------------------

def init_producer_id(address: str, transactional_id, timeout_ms: int = 60000, version: int = 1,
                     producer_id: int = -1, epoch: int = -1):
    """InitProducerId v1 (or v3/v4 flexible, with the current producer id and epoch): (error, producer id, epoch)."""
    flexible = version >= 2
    w = Writer(flexible).string(transactional_id).i32(timeout_ms)
    if version >= 3:
        w.i64(producer_id).i16(epoch)
    w.tags()
    r = call(address, 22, version, w)
    r.i32()  # throttle
    return r.i16(), r.i64(), r.i16()


def init_producer_id_retrying(address: str, transactional_id, timeout_ms: int = 60000, timeout: float = 30.0,
                              also_retry=()):
    """InitProducerId v1 the way a client does it: FindCoordinator (key_type 1) first -- in Kafka that is what creates
    __transaction_state and so the coordinator -- then InitProducerId, both retried while the coordinator loads
    (14/15/16) or on the codes in also_retry."""
    deadline = time.time() + timeout
    while True:
        if transactional_id is not None:
            find_coordinator_retrying(address, transactional_id, 1, timeout=max(deadline - time.time(), 0))
        result = init_producer_id(address, transactional_id, timeout_ms)
        if result[0] not in COORDINATOR_RETRIABLE + tuple(also_retry) or time.time() > deadline:
            return result
        time.sleep(0.1)


# --- AddPartitionsToTxn (24) v0-3 -------------------------------------------------------------------------------

def add_partitions_to_txn(address: str, transactional_id: str, producer_id: int, epoch: int, partitions: dict,
                          version: int = 3):
    """AddPartitionsToTxn v0-3 (v3 flexible): {(topic, partition): error code}. partitions: {topic: [partition]}."""
    flexible = version >= 3

    def topic(w, item):
        name, parts = item
        w.string(name).array(parts, lambda w2, p: w2.i32(p)).tags()

    w = Writer(flexible).string(transactional_id).i64(producer_id).i16(epoch).array(partitions.items(), topic).tags()
    r = call(address, 24, version, w)
    r.i32()  # throttle

    def partition_result(r2):
        index, error = r2.i32(), r2.i16()
        r2.tags()
        return index, error

    def topic_result(r2):
        name = r2.string()
        results = r2.array(partition_result)
        r2.tags()
        return name, results

    out = {}
    for name, results in r.array(topic_result):
        for index, error in results:
            out[(name, index)] = error
    return out


# --- EndTxn (26) v0-3 -------------------------------------------------------------------------------------------

def end_txn(address: str, transactional_id: str, producer_id: int, epoch: int, committed: bool, version: int = 1):
    """EndTxn v0-3 (v3 flexible): the error code."""
    flexible = version >= 3
    w = Writer(flexible).string(transactional_id).i64(producer_id).i16(epoch).bool(committed).tags()
    r = call(address, 26, version, w)
    r.i32()  # throttle
    return r.i16()


# --- DescribeTransactions (65) v0 and ListTransactions (66) v0, both flexible -----------------------------------

def describe_transactions(address: str, transactional_ids):
    """DescribeTransactions v0: {transactional id: dict(error, state, timeout_ms, start_ms, producer_id, epoch,
    partitions={(topic, partition)})}."""
    w = Writer(True).array(transactional_ids, lambda w2, t: w2.string(t)).tags()
    r = call(address, 65, 0, w)
    r.i32()  # throttle

    def topic(r2):
        name = r2.string()
        parts = r2.array(lambda r3: r3.i32())
        r2.tags()
        return name, parts

    def state(r2):
        error = r2.i16()
        tid = r2.string()
        st = r2.string()
        timeout_ms = r2.i32()
        start_ms = r2.i64()
        pid = r2.i64()
        epoch = r2.i16()
        topics = r2.array(topic)
        r2.tags()
        return tid, {"error": error, "state": st, "timeout_ms": timeout_ms, "start_ms": start_ms,
                     "producer_id": pid, "epoch": epoch,
                     "partitions": {(name, p) for name, parts in topics for p in parts}}

    return dict(r.array(state))


def list_transactions(address: str, state_filters=(), producer_id_filters=()):
    """ListTransactions v0: (error, unknown state filters, [(transactional id, producer id, state)])."""
    w = (Writer(True).array(state_filters, lambda w2, s: w2.string(s))
         .array(producer_id_filters, lambda w2, p: w2.i64(p)).tags())
    r = call(address, 66, 0, w)
    r.i32()  # throttle
    error = r.i16()
    unknown = r.array(lambda r2: r2.string())

    def state(r2):
        tid, pid, st = r2.string(), r2.i64(), r2.string()
        r2.tags()
        return tid, pid, st

    return error, unknown, r.array(state)
