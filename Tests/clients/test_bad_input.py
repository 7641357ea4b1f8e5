"""Bad input over raw sockets: garbage, a 2 GiB size prefix, a truncated request, unknown API keys and versions.
The node answers or closes that one connection, and keeps serving every other."""
import os
import socket
import struct

from conftest import create_topic


def connect(node):
    s = socket.create_connection(("127.0.0.1", node.port), timeout=5)
    s.settimeout(5)
    return s


def request(api_key, api_version, correlation_id, body=b"", client_id=b"raw"):
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(s):
    size_bytes = b""
    while len(size_bytes) < 4:
        chunk = s.recv(4 - len(size_bytes))
        if not chunk:
            return None
        size_bytes += chunk
    (size,) = struct.unpack(">i", size_bytes)
    data = b""
    while len(data) < size:
        chunk = s.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def closed_by_peer(s, timeout=15):
    """The node closed this connection: EOF or a reset. A connection left hanging (nothing within `timeout`
    seconds) is a failure, not a close."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        raise AssertionError(f"the node neither answered nor closed the connection within {timeout} s")


def still_serving(node, topic):
    """A separate, healthy client still gets metadata."""
    s = connect(node)
    s.sendall(request(3, 1, 42, struct.pack(">i", -1)))  # Metadata v1, all topics
    frame = read_frame(s)
    s.close()
    assert frame is not None and struct.unpack(">i", frame[:4])[0] == 42
    assert topic.encode() in frame


def test_every_kind_of_bad_input_leaves_the_node_serving(node, topic_name):
    create_topic(node.bootstrap, topic_name)
    healthy = connect(node)  # stays open across all the abuse below

    s = connect(node)  # random garbage
    s.sendall(os.urandom(4096))
    assert closed_by_peer(s)
    still_serving(node, topic_name)

    s = connect(node)  # a 2 GiB size prefix
    s.sendall(struct.pack(">i", 0x7FFFFFFF) + b"x" * 100)
    assert closed_by_peer(s)
    still_serving(node, topic_name)

    s = connect(node)  # a negative size
    s.sendall(struct.pack(">i", -5))
    assert closed_by_peer(s)

    s = connect(node)  # truncated: the size promises more than ever comes, then the client goes away
    s.sendall(request(3, 1, 1, struct.pack(">i", -1))[:-3])
    s.shutdown(socket.SHUT_WR)
    assert closed_by_peer(s)
    still_serving(node, topic_name)

    s = connect(node)  # an unknown API key
    s.sendall(request(999, 0, 5))
    assert closed_by_peer(s)

    s = connect(node)  # an unsupported version of Metadata
    s.sendall(request(3, 99, 6))
    assert closed_by_peer(s)

    s = connect(node)  # a malformed body: Metadata v1 whose array count runs past the frame
    s.sendall(request(3, 1, 7, struct.pack(">i", 1000)))
    assert closed_by_peer(s)

    s = connect(node)  # ApiVersions with an unknown version: error 35 in the v0 layout, with our versions
    s.sendall(request(18, 99, 8))
    frame = read_frame(s)
    assert frame is not None
    correlation_id, error_code, count = struct.unpack(">ihi", frame[:10])
    assert (correlation_id, error_code) == (8, 35)
    keys = [struct.unpack(">hhh", frame[10 + 6 * i:16 + 6 * i]) for i in range(count)]
    assert (18, 0, 4) in keys
    s.close()

    healthy.sendall(request(3, 1, 99, struct.pack(">i", -1)))
    frame = read_frame(healthy)
    assert struct.unpack(">i", frame[:4])[0] == 99
    healthy.close()
    assert node.alive()
