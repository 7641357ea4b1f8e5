#!/usr/bin/env python3
"""Sanity-check the golden Kafka fixtures.

For every Tests/KafkaWireTests/Fixtures/golden/*.bin (one request, no size
prefix) this parses the request header -- api_key int16, api_version int16,
correlation_id int32, client_id (nullable int16-length string) and, for
flexible versions, the header's tagged-field section -- and checks that the
api key and version match the file name <client>-<ApiName>-v<ver>[-<label>].bin.

If Kafka's message schemas are available (default: /work/shared/kafka-protocol/
messages, or --schemas DIR, or $KAFKA_MESSAGES), it also decodes the body with
them, checks that every byte is consumed, re-encodes the decoded value the way
Kafka's generated code does (tagged fields only when not default, minimal
varints) and compares with the file, i.e. what GoldenTests.swift expects
of the Swift codecs.  Produce record batches are checked too (magic 2,
CRC-32C when the `crc32c` module is installed, decompression and record count).
The same is done for golden-responses/*.bin (response header + body).

Exit status 1 if a header does not match its file name or a file is unreadable;
a body that decodes but re-encodes differently is reported as DIFF (also exit 1
unless --allow-diff).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests" / "KafkaWireTests" / "Fixtures"
DEFAULT_SCHEMAS = Path(os.environ.get("KAFKA_MESSAGES", "/work/shared/kafka-protocol/messages"))


# --------------------------------------------------------------------------- schemas

def load_json(path: Path):
    return json.loads("\n".join(ln for ln in path.read_text().splitlines() if not ln.strip().startswith("//")))


def in_range(spec, v):
    if spec is None or spec == "none":
        return False
    spec = str(spec)
    if spec.endswith("+"):
        return v >= int(spec[:-1])
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(spec)


class Schemas:
    def __init__(self, d: Path):
        self.req, self.resp = {}, {}
        for p in d.glob("*.json"):
            j = load_json(p)
            if j.get("type") == "request":
                self.req[j["apiKey"]] = j
            elif j.get("type") == "response":
                self.resp[j["apiKey"]] = j
            elif j.get("name") == "RequestHeader":
                self.req_header = j
            elif j.get("name") == "ResponseHeader":
                self.resp_header = j

    def name(self, key):
        return self.req[key]["name"][: -len("Request")]


# --------------------------------------------------------------------------- codec

class Reader:
    def __init__(self, b: bytes, pos=0):
        self.b, self.p = b, pos

    def take(self, n):
        if n < 0 or self.p + n > len(self.b):
            raise ValueError(f"underflow at {self.p} (+{n}, len {len(self.b)})")
        x = self.b[self.p:self.p + n]
        self.p += n
        return x

    def fixed(self, fmt):
        return struct.unpack(">" + fmt, self.take(struct.calcsize(fmt)))[0]

    def uvarint(self):
        shift = val = 0
        while True:
            c = self.take(1)[0]
            val |= (c & 0x7F) << shift
            if not c & 0x80:
                return val
            shift += 7


def uvarint(n):
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


FIXED = {"int8": "b", "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q", "float64": "d"}


class Codec:
    """Decode/encode one message version from Kafka's JSON schema."""

    def __init__(self, msg, version, flexible=None):
        self.msg, self.v = msg, version
        self.flex = in_range(msg.get("flexibleVersions"), version) if flexible is None else flexible
        self.common = {s["name"]: s for s in msg.get("commonStructs", [])}

    def struct_fields(self, f):
        if "fields" in f:
            return f["fields"]
        t = f["type"][2:] if f["type"].startswith("[]") else f["type"]
        return self.common[t]["fields"]

    def present(self, f):
        return in_range(f.get("versions"), self.v)

    def tagged(self, f):
        return self.flex and "tag" in f and in_range(f.get("taggedVersions"), self.v)

    def nullable(self, f):
        return in_range(f.get("nullableVersions"), self.v)

    def field_flex(self, f):
        fv = f.get("flexibleVersions")
        return self.flex if fv is None else in_range(fv, self.v)

    # -- decode
    def decode_struct(self, fields, r):
        out = {}
        for f in fields:
            if self.present(f) and not self.tagged(f):
                out[f["name"]] = self.decode_value(f, f["type"], r)
        if self.flex:
            tags = {}
            prev = -1
            for _ in range(r.uvarint()):
                tag, size = r.uvarint(), r.uvarint()
                if tag <= prev:
                    raise ValueError(f"tags not ascending ({prev} then {tag})")
                prev = tag
                raw = r.take(size)
                known = next((f for f in fields if self.present(f) and self.tagged(f) and int(f["tag"]) == tag), None)
                if known is None:
                    tags[tag] = ("raw", raw)
                else:
                    sub = Reader(raw)
                    tags[tag] = ("field", known, self.decode_value(known, known["type"], sub))
                    if sub.p != len(raw):
                        raise ValueError(f"tagged field {known['name']}: {len(raw) - sub.p} bytes left")
            out["_tags"] = tags
        return out

    def decode_value(self, f, t, r):
        flex = self.field_flex(f)
        if t.startswith("[]"):
            n = r.uvarint() - 1 if flex else r.fixed("i")
            if n < 0:
                return None
            et = t[2:]
            if et in FIXED or et in ("bool", "uuid", "string", "bytes", "records"):
                return [self.decode_value(f, et, r) for _ in range(n)]
            fields = self.struct_fields(f)
            return [self.decode_struct(fields, r) for _ in range(n)]
        if t in FIXED:
            return r.fixed(FIXED[t])
        if t == "bool":
            b = r.take(1)[0]
            if b not in (0, 1):
                raise ValueError("non-canonical bool")
            return bool(b)
        if t == "uuid":
            return r.take(16)
        if t == "string":
            n = r.uvarint() - 1 if flex else r.fixed("h")
            return None if n < 0 else r.take(n).decode("utf-8")
        if t in ("bytes", "records"):
            n = r.uvarint() - 1 if flex else r.fixed("i")
            return None if n < 0 else r.take(n)
        # struct
        if self.nullable(f):
            m = r.fixed("b")
            if m < 0:
                return None
        return self.decode_struct(self.struct_fields(f), r)

    # -- encode (canonical, like Kafka's generated code)
    def encode_struct(self, fields, val):
        out = bytearray()
        for f in fields:
            if self.present(f) and not self.tagged(f):
                out += self.encode_value(f, f["type"], val[f["name"]])
        if self.flex:
            tags = val.get("_tags", {})
            entries = []
            for tag, ent in tags.items():
                if ent[0] == "raw":
                    entries.append((tag, ent[1]))
                elif not self.is_default(ent[1], ent[2]):
                    entries.append((tag, self.encode_value(ent[1], ent[1]["type"], ent[2])))
            entries.sort()
            out += uvarint(len(entries))
            for tag, data in entries:
                out += uvarint(tag) + uvarint(len(data)) + data
        return bytes(out)

    def encode_value(self, f, t, v):
        flex = self.field_flex(f)
        if t.startswith("[]"):
            if v is None:
                return b"\x00" if flex else struct.pack(">i", -1)
            out = bytearray(uvarint(len(v) + 1) if flex else struct.pack(">i", len(v)))
            et = t[2:]
            for e in v:
                if et in FIXED or et in ("bool", "uuid", "string", "bytes", "records"):
                    out += self.encode_value(f, et, e)
                else:
                    out += self.encode_struct(self.struct_fields(f), e)
            return bytes(out)
        if t in FIXED:
            return struct.pack(">" + FIXED[t], v)
        if t == "bool":
            return b"\x01" if v else b"\x00"
        if t == "uuid":
            return v
        if t in ("string", "bytes", "records"):
            if v is None:
                return b"\x00" if flex else struct.pack(">h" if t == "string" else ">i", -1)
            data = v.encode("utf-8") if t == "string" else v
            n = uvarint(len(data) + 1) if flex else struct.pack(">h" if t == "string" else ">i", len(data))
            return n + data
        if self.nullable(f):
            if v is None:
                return struct.pack(">b", -1)
            return struct.pack(">b", 1) + self.encode_struct(self.struct_fields(f), v)
        return self.encode_struct(self.struct_fields(f), v)

    def default_of(self, f):
        t, d = f["type"], f.get("default")
        if t.startswith("[]"):
            return []
        if d == "null":
            return None
        if t in FIXED:
            if d is None:
                return 0
            if isinstance(d, str):
                return float(d) if t == "float64" else int(d, 0)
            return d
        if t == "bool":
            return d in (True, "true")
        if t == "string":
            return d or ""
        if t in ("bytes", "records"):
            return b""
        if t == "uuid":
            return bytes(16)
        return "struct"

    def is_default(self, f, v):
        d = self.default_of(f)
        if d == "struct":
            if v is None:
                return False
            return all(self.is_default(sf, v[sf["name"]]) for sf in self.struct_fields(f)
                       if self.present(sf) and not self.tagged(sf)) and not v.get("_tags")
        return v == d


# --------------------------------------------------------------------------- record batches

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def zigzag(r):
    n = r.uvarint()
    return (n >> 1) ^ -(n & 1)


def decompress(codec, data):
    if codec == 0:
        return data
    if codec == 1:
        return gzip.decompress(data)
    if codec == 2:
        if data[:8] == b"\x82SNAPPY\x00":          # xerial framing (Java, librdkafka, kafka-python)
            import cramjam
            out, p = bytearray(), 16
            while p < len(data):
                n = struct.unpack(">i", data[p:p + 4])[0]
                out += bytes(cramjam.snappy.decompress_raw(data[p + 4:p + 4 + n]))
                p += 4 + n
            return bytes(out)
        import cramjam
        return bytes(cramjam.snappy.decompress_raw(data))
    if codec == 3:
        import lz4.frame
        return lz4.frame.decompress(data)
    if codec == 4:
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise ValueError(f"codec {codec}")


def check_batches(records: bytes):
    """-> list of 'codec:N records' strings; raises on a malformed batch."""
    out, p = [], 0
    while p < len(records):
        base, length = struct.unpack(">qi", records[p:p + 12])
        batch = records[p:p + 12 + length]
        if len(batch) != 12 + length:
            raise ValueError("truncated record batch")
        magic = batch[16]
        if magic != 2:
            out.append(f"magic{magic}")
            p += 12 + length
            continue
        crc = struct.unpack(">I", batch[17:21])[0]
        try:
            import crc32c
            if crc32c.crc32c(batch[21:]) != crc:
                raise ValueError("record batch CRC-32C mismatch")
        except ImportError:
            pass
        attrs = struct.unpack(">h", batch[21:23])[0]
        count = struct.unpack(">i", batch[57:61])[0]
        data = decompress(attrs & 7, batch[61:])
        r = Reader(data)
        for _ in range(count):
            n = zigzag(r)
            end = r.p + n
            r.take(1); zigzag(r); zigzag(r)          # attributes, timestamp delta, offset delta
            k = zigzag(r); r.take(max(k, 0))
            v = zigzag(r); r.take(max(v, 0))
            for _ in range(zigzag(r)):
                r.take(zigzag(r))
                hv = zigzag(r); r.take(max(hv, 0))
            if r.p != end:
                raise ValueError("record length mismatch")
        if r.p != len(data):
            raise ValueError("bytes left after records")
        out.append(f"{CODECS.get(attrs & 7)}:{count}" + ("+txn" if attrs & 0x10 else ""))
        p += 12 + length
    return out


def walk_records(val):
    """Yield every `records` blob in a decoded Produce/Fetch body."""
    if isinstance(val, dict):
        for k, v in val.items():
            if k == "Records" and isinstance(v, (bytes, bytearray)):
                yield v
            else:
                yield from walk_records(v)
    elif isinstance(val, list):
        for e in val:
            yield from walk_records(e)


# --------------------------------------------------------------------------- one frame

def skip_tags(data, off):
    r = Reader(data, off)
    for _ in range(r.uvarint()):
        r.uvarint(); r.take(r.uvarint())
    return r.p


def body_offset(kind, data, key, ver, flexible):
    """Offset of the body in a request ("req") or response ("resp") frame."""
    if kind == "req":
        n = struct.unpack(">h", data[8:10])[0]
        off = 10 + max(n, 0)
        return skip_tags(data, off) if flexible and not (key == 7 and ver == 0) else off
    return skip_tags(data, 4) if flexible and key != 18 else 4


def check_body(sch, kind, data, key, ver):
    """Decode the body with the schema and re-encode it canonically.
    -> (status, notes): status "ok", "DIFF" (decodes, re-encodes differently) or "BAD"."""
    msg = (sch.req if kind == "req" else sch.resp)[key]
    c = Codec(msg, ver)
    try:
        off = body_offset(kind, data, key, ver, c.flex)
        r = Reader(data, off)
        body = c.decode_struct(msg["fields"], r)
        if r.p != len(data):
            return "BAD", f"{len(data) - r.p} bytes left after the body: {data[r.p:][:16].hex()}"
        again = data[:off] + c.encode_struct(msg["fields"], body)
        notes = ""
        if kind == "req":
            batches = [b for rec in walk_records(body) for b in check_batches(rec)]
            if batches:
                notes = "batches=" + ",".join(batches)
        if again != data:
            i = next((i for i in range(min(len(again), len(data))) if again[i] != data[i]), min(len(again), len(data)))
            return "DIFF", f"re-encodes differently from byte {i} ({len(again)} vs {len(data)} bytes) {notes}"
        return "ok", notes
    except Exception as e:
        return "BAD", f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------- main

def parse_name(name):
    parts = name[:-4].split("-")
    vi = max(i for i, p in enumerate(parts) if p[:1] == "v" and p[1:].isdigit())
    return parts[vi - 1], int(parts[vi][1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=FIXTURES / "golden")
    ap.add_argument("--responses", type=Path, default=FIXTURES / "golden-responses")
    ap.add_argument("--quirks", type=Path, default=FIXTURES / "golden-quirks",
                    help="non-canonical frames: reported, never a failure")
    ap.add_argument("--schemas", type=Path, default=DEFAULT_SCHEMAS)
    ap.add_argument("--allow-diff", action="store_true", help="exit 0 even if a body re-encodes differently")
    args = ap.parse_args()

    sch = Schemas(args.schemas) if args.schemas.is_dir() else None
    if sch is None:
        print(f"(no schemas at {args.schemas}: header checks only)")
    # api names / flexible versions, so the header check works without the schemas
    from importlib.util import spec_from_file_location, module_from_spec
    spec = spec_from_file_location("capture_golden", Path(__file__).with_name("capture-golden.py"))
    cg = module_from_spec(spec)
    spec.loader.exec_module(cg)
    counts = {"ok": 0, "DIFF": 0, "BAD": 0}

    def check_file(path, strict):
        data = path.read_bytes()
        is_resp = path.name.startswith("tansu-")
        try:
            api, fver = parse_name(path.name)
            if len(data) > 64 * 1024:
                raise ValueError("larger than 64 KiB")
            if is_resp:
                key = next(k for k, (n, _) in cg.API.items() if n == api)
                ver = fver
                corr = struct.unpack(">i", data[:4])[0]
                head = f"corr={corr}"
            else:
                key, ver, corr = struct.unpack(">hhi", data[:8])
                n = struct.unpack(">h", data[8:10])[0]
                client_id = None if n < 0 else data[10:10 + n].decode()
                off = 10 + max(n, 0)
                if cg.is_flexible(key, ver):
                    off = skip_tags(data, off)       # header tagged fields
                if off > len(data):
                    raise ValueError("header runs past the end")
                if api != cg.api_name(key) or fver != ver:
                    raise ValueError(f"header says {cg.api_name(key)} v{ver}, name says {api} v{fver}")
                head = f"key={key} v={ver} corr={corr} client_id={client_id!r}"
            status, notes = ("ok", "") if sch is None else check_body(sch, "resp" if is_resp else "req", data, key, ver)
        except Exception as e:
            status, notes, head = "BAD", f"{type(e).__name__}: {e}", ""
            strict = True                              # a bad header/name is always an error
        if strict:
            counts[status] += 1
        print(f"  {status:4} {path.name:52} {len(data):6d}B {head} {notes}".rstrip())

    for d, strict in ((args.dir, True), (args.responses, True), (args.quirks, False)):
        files = sorted(d.glob("*.bin")) if d.is_dir() else []
        if files:
            print(f"{len(files)} fixtures in {d}" + ("" if strict else " (expected to be non-canonical)"))
        for path in files:
            check_file(path, strict)

    print(f"{counts['ok']} ok, {counts['BAD']} bad, {counts['DIFF']} re-encode differently")
    return 1 if counts["BAD"] or (counts["DIFF"] and not args.allow_diff) else 0


if __name__ == "__main__":
    sys.exit(main())
