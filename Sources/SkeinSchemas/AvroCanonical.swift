import Foundation

extension AvroSchema {
    /// The Parsing Canonical Form defined by the Avro specification
    /// (PRIMITIVES, FULLNAMES, STRIP, ORDER, STRINGS, INTEGERS, WHITESPACE transformations).
    /// Error records are rendered with `"type":"record"`, as the Java and fastavro implementations do.
    public var canonicalForm: String {
        var out = ""
        var seen: Set<String> = []
        writeCanonical(root, seen: &seen, to: &out)
        return out
    }

    /// The 64-bit Rabin (CRC-64-AVRO) fingerprint of the Parsing Canonical Form.
    public var rabinFingerprint: UInt64 { AvroFingerprint.rabin(Array(canonicalForm.utf8)) }
    /// MD5 digest (16 bytes) of the Parsing Canonical Form.
    public var md5Fingerprint: [UInt8] { Digest.md5(Array(canonicalForm.utf8)) }
    /// SHA-256 digest (32 bytes) of the Parsing Canonical Form.
    public var sha256Fingerprint: [UInt8] { Digest.sha256(Array(canonicalForm.utf8)) }

    private func writeName(_ name: String, to out: inout String) {
        JSONValue.writeString(name, to: &out)
    }

    private func writeCanonical(_ type: AvroType, seen: inout Set<String>, to out: inout String) {
        switch type {
        case .primitive(let p, _):
            out += "\"" + p.rawValue + "\""
        case .reference(let name):
            if !seen.contains(name), let def = namedTypes[name], case .reference = def {
                writeName(name, to: &out)
            } else if !seen.contains(name), let def = namedTypes[name] {
                writeCanonical(def, seen: &seen, to: &out)
            } else {
                writeName(name, to: &out)
            }
        case .record(let r):
            let full = r.name.fullName
            if seen.contains(full) { writeName(full, to: &out); return }
            seen.insert(full)
            out += "{\"name\":"
            writeName(full, to: &out)
            out += ",\"type\":\"record\",\"fields\":["
            for (i, f) in r.fields.enumerated() {
                if i > 0 { out += "," }
                out += "{\"name\":"
                writeName(f.name, to: &out)
                out += ",\"type\":"
                writeCanonical(f.type, seen: &seen, to: &out)
                out += "}"
            }
            out += "]}"
        case .enumeration(let e):
            let full = e.name.fullName
            if seen.contains(full) { writeName(full, to: &out); return }
            seen.insert(full)
            out += "{\"name\":"
            writeName(full, to: &out)
            out += ",\"type\":\"enum\",\"symbols\":["
            for (i, s) in e.symbols.enumerated() {
                if i > 0 { out += "," }
                writeName(s, to: &out)
            }
            out += "]}"
        case .fixed(let f):
            let full = f.name.fullName
            if seen.contains(full) { writeName(full, to: &out); return }
            seen.insert(full)
            out += "{\"name\":"
            writeName(full, to: &out)
            out += ",\"type\":\"fixed\",\"size\":\(f.size)}"
        case .array(let items):
            out += "{\"type\":\"array\",\"items\":"
            writeCanonical(items, seen: &seen, to: &out)
            out += "}"
        case .map(let values):
            out += "{\"type\":\"map\",\"values\":"
            writeCanonical(values, seen: &seen, to: &out)
            out += "}"
        case .union(let branches):
            out += "["
            for (i, b) in branches.enumerated() {
                if i > 0 { out += "," }
                writeCanonical(b, seen: &seen, to: &out)
            }
            out += "]"
        }
    }
}

/// The Avro 64-bit Rabin fingerprint (CRC-64-AVRO) from the specification.
public enum AvroFingerprint {
    /// The specification's `EMPTY` constant (fingerprint of the empty input).
    public static let empty: UInt64 = 0xc15d_213a_a4d7_a795

    private static let table: [UInt64] = (0..<256).map { i -> UInt64 in
        var fp = UInt64(i)
        for _ in 0..<8 { fp = (fp >> 1) ^ (empty & (0 &- (fp & 1))) }
        return fp
    }

    /// Fingerprints `bytes` with the algorithm given in the specification.
    public static func rabin(_ bytes: [UInt8]) -> UInt64 {
        var fp = empty
        for b in bytes { fp = (fp >> 8) ^ table[Int((fp ^ UInt64(b)) & 0xff)] }
        return fp
    }

    /// The fingerprint as 8 little-endian bytes (the order used by Avro single-object encoding).
    public static func littleEndianBytes(_ fp: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: fp >> (8 * UInt64($0))) } }
}
