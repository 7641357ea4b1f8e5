import Foundation

/// A JSON number that keeps its original literal text together with its integer and floating-point readings.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The literal exactly as it appeared in the source text (or as produced by the initializer).
    public let text: String
    /// True when the literal has no fraction and no exponent part.
    public let isIntegerLiteral: Bool
    /// The value as a 64-bit integer, when the literal is an integer literal that fits in `Int64`.
    public let int64Value: Int64?
    /// The value as a `Double` (may be rounded, or infinite for out-of-range literals).
    public let doubleValue: Double

    /// Creates a number from a literal that has already been validated against the JSON number grammar.
    init(validatedLiteral text: String) {
        self.text = text
        let integer = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        self.isIntegerLiteral = integer
        self.int64Value = integer ? Int64(text) : nil
        self.doubleValue = Double(text) ?? .nan
    }

    /// Creates an integer number.
    public init(_ value: Int64) {
        self.text = String(value)
        self.isIntegerLiteral = true
        self.int64Value = value
        self.doubleValue = Double(value)
    }

    /// Creates a floating-point number. Integral values are written with a trailing `.0`; non-finite values
    /// have no JSON representation and are written as Swift prints them (`inf`, `nan`).
    public init(_ value: Double) {
        if value.isFinite, value == value.rounded(), abs(value) < 9.0e15 {
            self.text = String(Int64(value)) + ".0"
        } else {
            self.text = String(value)
        }
        self.isIntegerLiteral = false
        self.int64Value = nil
        self.doubleValue = value
    }

    /// The original literal text.
    public var description: String { text }

    /// Numeric equality: integer literals compare exactly, anything else compares as `Double`.
    public func numericallyEquals(_ other: JSONNumber) -> Bool {
        if let a = int64Value, let b = other.int64Value { return a == b }
        return doubleValue == other.doubleValue
    }
}

/// An ordered JSON object: keys keep their first-seen order, which matters for canonical and compact forms.
public struct JSONObject: Sendable, Hashable, Sequence {
    /// The members in source order.
    public private(set) var entries: [(key: String, value: JSONValue)]
    /// Position of each key in `entries`, for constant-time lookup.
    private var index: [String: Int]

    /// Creates an object from ordered entries; later duplicates replace earlier values in place.
    public init(_ entries: [(String, JSONValue)] = []) {
        self.entries = []
        self.index = [:]
        for (k, v) in entries { self[k] = v }
    }

    /// The member value for `key`, or nil when absent. Setting nil removes the member.
    public subscript(key: String) -> JSONValue? {
        get { index[key].map { entries[$0].value } }
        set {
            if let idx = index[key] {
                if let newValue {
                    entries[idx].value = newValue
                } else {
                    entries.remove(at: idx)
                    index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.key, $0) })
                }
            } else if let newValue {
                index[key] = entries.count
                entries.append((key: key, value: newValue))
            }
        }
    }

    /// The keys in source order.
    public var keys: [String] { entries.map(\.key) }
    /// Number of members.
    public var count: Int { entries.count }
    /// True when the object has no members.
    public var isEmpty: Bool { entries.isEmpty }

    /// Iterates members in source order.
    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> { entries.makeIterator() }

    /// Objects are equal when they have the same members regardless of order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (k, v) in lhs.entries { guard rhs[k] == v else { return false } }
        return true
    }

    /// Order-independent hash, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        for (k, v) in entries.sorted(by: { $0.key < $1.key }) { hasher.combine(k); hasher.combine(v) }
    }
}

/// A JSON value with integer/double distinction and object key order preserved.
public indirect enum JSONValue: Sendable, Hashable, CustomStringConvertible {
    /// JSON `null`.
    case null
    /// JSON `true` / `false`.
    case bool(Bool)
    /// A JSON number.
    case number(JSONNumber)
    /// A JSON string.
    case string(String)
    /// A JSON array.
    case array([JSONValue])
    /// A JSON object.
    case object(JSONObject)

    /// Parses JSON text (RFC 8259). Throws `JSONParseError` on malformed input.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var parser = JSONTextParser(Array(text.utf8))
        return try parser.parseDocument()
    }

    /// The string payload, if this is a string.
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    /// The object payload, if this is an object.
    public var objectValue: JSONObject? { if case .object(let o) = self { return o }; return nil }
    /// The array payload, if this is an array.
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    /// The number payload, if this is a number.
    public var numberValue: JSONNumber? { if case .number(let n) = self { return n }; return nil }
    /// The bool payload, if this is a boolean.
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    /// True for `null`.
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// A short name of the JSON kind (`null`, `boolean`, `number`, `string`, `array`, `object`).
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Compact serialization preserving key order and original number literals.
    public var compactString: String { var out = ""; write(to: &out, sortedKeys: false); return out }
    /// Compact serialization with object keys sorted (by UTF-16/Unicode scalar order) at every level.
    public var sortedCompactString: String { var out = ""; write(to: &out, sortedKeys: true); return out }
    /// Same as `compactString`.
    public var description: String { compactString }

    /// Semantic equality used for enum/const comparison: numbers compare numerically, objects ignore key order.
    public func semanticallyEquals(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.number(let a), .number(let b)): return a.numericallyEquals(b)
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.semanticallyEquals($1) }
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for (k, v) in a { guard let w = b[k], v.semanticallyEquals(w) else { return false } }
            return true
        default: return self == other
        }
    }

    func write(to out: inout String, sortedKeys: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n.text
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out, sortedKeys: sortedKeys)
            }
            out += "]"
        case .object(let obj):
            out += "{"
            let entries = sortedKeys ? obj.entries.sorted(by: { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }) : obj.entries
            for (i, e) in entries.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(e.key, to: &out)
                out += ":"
                e.value.write(to: &out, sortedKeys: sortedKeys)
            }
            out += "}"
        }
    }

    /// Appends `s` as a JSON string literal (escaping quotes, backslashes and control characters only).
    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// A JSON syntax error with the byte offset where it was detected.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Byte offset into the UTF-8 input.
    public let offset: Int
    /// What went wrong.
    public let message: String
    /// Human-readable message including the offset.
    public var description: String { "invalid JSON at offset \(offset): \(message)" }
}

/// Recursive-descent JSON parser over UTF-8 bytes with a nesting limit.
struct JSONTextParser {
    private let bytes: [UInt8]
    private var pos = 0
    private let maxDepth = 512

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        // Skip a UTF-8 byte order mark.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { pos = 3 }
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if pos != bytes.count { throw fail("unexpected trailing characters") }
        return value
    }

    private func fail(_ message: String) -> JSONParseError { JSONParseError(offset: pos, message: message) }

    private mutating func skipWhitespace() {
        while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 { pos += 1 }
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
        guard pos < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character '\(Character(UnicodeScalar(bytes[pos])))'")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws(JSONParseError) {
        for b in literal.utf8 {
            guard pos < bytes.count, bytes[pos] == b else { throw fail("invalid literal, expected \(literal)") }
            pos += 1
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        pos += 1
        var obj = JSONObject()
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(obj) }
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected string key") }
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':' after object key") }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            obj[key] = value
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unterminated object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(obj) }
            throw fail("expected ',' or '}' in object")
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        pos += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unterminated array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw fail("expected ',' or ']' in array")
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        pos += 1
        var buffer: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw fail("unterminated string") }
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") { pos += 1; break }
            if c < 0x20 { throw fail("unescaped control character in string") }
            if c != UInt8(ascii: "\\") { buffer.append(c); pos += 1; continue }
            pos += 1
            guard pos < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): buffer.append(0x22)
            case UInt8(ascii: "\\"): buffer.append(0x5C)
            case UInt8(ascii: "/"): buffer.append(0x2F)
            case UInt8(ascii: "b"): buffer.append(0x08)
            case UInt8(ascii: "f"): buffer.append(0x0C)
            case UInt8(ascii: "n"): buffer.append(0x0A)
            case UInt8(ascii: "r"): buffer.append(0x0D)
            case UInt8(ascii: "t"): buffer.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if code >= 0xD800 && code < 0xDC00 {
                    guard pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired high surrogate in \\u escape")
                    }
                    pos += 2
                    let low = try parseHex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw fail("invalid low surrogate in \\u escape") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if code >= 0xDC00 && code < 0xE000 {
                    throw fail("unpaired low surrogate in \\u escape")
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("invalid code point in \\u escape") }
                buffer.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw fail("invalid escape character")
            }
        }
        guard let s = String(validating: buffer, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
        return s
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONNumber {
        let start = pos
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number") }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
            if pos < bytes.count, isDigit(bytes[pos]) { throw fail("leading zeros are not allowed in numbers") }
        } else {
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("expected digit after decimal point") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("expected digit in exponent") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        return JSONNumber(validatedLiteral: text)
    }
}
