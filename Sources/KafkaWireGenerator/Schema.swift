import Foundation

/// A set of message versions as Kafka's JSON writes it: `"none"`, `"3"`, `"1-4"` or `"5+"`.
/// Checked at generation time so that tagged ⊆ flexible ⊆ valid holds before any code is written.
public struct VersionRange: Equatable, Sendable, CustomStringConvertible {
    /// Lowest version in the range; `nil` for the empty range.
    public let lowest: Int?
    /// Highest version, inclusive; `nil` when open-ended (or empty).
    public let highest: Int?

    public static let none = VersionRange(lowest: nil, highest: nil)

    public init(lowest: Int?, highest: Int?) {
        self.lowest = lowest
        self.highest = highest
    }

    public init(parsing text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t == "none" {
            self = .none
        } else if t.hasSuffix("+"), let lo = Int(t.dropLast()) {
            self.init(lowest: lo, highest: nil)
        } else if let dash = t.firstIndex(of: "-"), let lo = Int(t[..<dash]), let hi = Int(t[t.index(after: dash)...]) {
            guard lo <= hi else { throw SchemaError.invalid("version range \(text) is reversed") }
            self.init(lowest: lo, highest: hi)
        } else if let v = Int(t) {
            self.init(lowest: v, highest: v)
        } else {
            throw SchemaError.invalid("cannot parse version range '\(text)'")
        }
    }

    public var isEmpty: Bool { lowest == nil }

    public func contains(_ version: Int) -> Bool {
        guard let lo = lowest else { return false }
        return version >= lo && (highest.map { version <= $0 } ?? true)
    }

    public func intersection(_ other: VersionRange) -> VersionRange {
        guard let a = lowest, let b = other.lowest else { return .none }
        let lo = max(a, b)
        let hi: Int?
        switch (highest, other.highest) {
        case (nil, nil): hi = nil
        case (let x?, nil): hi = x
        case (nil, let y?): hi = y
        case (let x?, let y?): hi = min(x, y)
        }
        if let hi, hi < lo { return .none }
        return VersionRange(lowest: lo, highest: hi)
    }

    public func isSubset(of other: VersionRange) -> Bool { intersection(other) == self }

    public var description: String {
        guard let lo = lowest else { return "none" }
        guard let hi = highest else { return "\(lo)+" }
        return lo == hi ? "\(lo)" : "\(lo)-\(hi)"
    }
}

public enum SchemaError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let s): return s
        }
    }
}

/// The type of a field as written in the JSON.
public indirect enum FieldType: Equatable, Sendable {
    case bool, int8, int16, uint16, int32, uint32, int64, float64, string, uuid, bytes, records
    case array(FieldType)
    case structure(String)

    init(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("[]") { self = .array(FieldType(parsing: String(t.dropFirst(2)))); return }
        switch t {
        case "bool": self = .bool
        case "int8": self = .int8
        case "int16": self = .int16
        case "uint16": self = .uint16
        case "int32": self = .int32
        case "uint32": self = .uint32
        case "int64": self = .int64
        case "float64": self = .float64
        case "string": self = .string
        case "uuid": self = .uuid
        case "bytes": self = .bytes
        case "records": self = .records
        default: self = .structure(t)
        }
    }

    public var isArray: Bool { if case .array = self { return true } else { return false } }
    public var isStruct: Bool { if case .structure = self { return true } else { return false } }
    /// Types that may carry `nullableVersions` in Kafka's rules.
    public var canBeNull: Bool {
        switch self {
        case .string, .bytes, .uuid, .records, .array, .structure: return true
        default: return false
        }
    }
}

/// One field of a struct, with every key of Kafka's field syntax that matters to us.
public struct FieldSpec: Sendable {
    public let name: String
    public let type: FieldType
    public let versions: VersionRange
    public let nullableVersions: VersionRange
    public let taggedVersions: VersionRange
    public let tag: Int?
    public let defaultValue: String?
    public let ignorable: Bool
    public let entityType: String?
    public let mapKey: Bool
    public let about: String?
    /// A per-field override of the message's flexible versions (only RequestHeader.ClientId uses it).
    public let flexibleVersions: VersionRange?
    /// Inline struct definition, when the field's type names a struct defined here.
    public let fields: [FieldSpec]?

    public func isPositional(in version: Int) -> Bool {
        versions.contains(version) && !taggedVersions.contains(version)
    }
    public func isTagged(in version: Int) -> Bool {
        versions.contains(version) && taggedVersions.contains(version)
    }
}

/// A named struct: an inline one, a common struct, or the message body itself.
public struct StructSpec: Sendable {
    public let name: String
    public let versions: VersionRange
    public let fields: [FieldSpec]
}

/// One JSON file of Kafka's message definitions.
public struct MessageSpec: Sendable {
    public enum Kind: String, Sendable { case request, response, header, data }
    public let fileName: String
    public let apiKey: Int?
    public let kind: Kind
    public let name: String
    public let validVersions: VersionRange
    public let flexibleVersions: VersionRange
    public let deprecatedVersions: VersionRange
    public let latestVersionUnstable: Bool
    public let listeners: [String]
    public let fields: [FieldSpec]
    public let commonStructs: [StructSpec]

    /// Every struct defined in this file (inline and common), by name, in definition order.
    public var allStructs: [StructSpec] {
        var out: [StructSpec] = []
        func collect(_ fields: [FieldSpec], versions: VersionRange) {
            for f in fields {
                if let inner = f.fields, let name = f.type.elementStructName {
                    out.append(StructSpec(name: name, versions: f.versions, fields: inner))
                    collect(inner, versions: f.versions)
                }
            }
        }
        collect(fields, versions: validVersions)
        for cs in commonStructs {
            out.append(cs)
            collect(cs.fields, versions: cs.versions)
        }
        return out
    }

    public func structNamed(_ name: String) -> StructSpec? { allStructs.first { $0.name == name } }
}

extension FieldType {
    /// The struct named by this type, directly or as an array element.
    public var elementStructName: String? {
        switch self {
        case .structure(let n): return n
        case .array(let inner): return inner.elementStructName
        default: return nil
        }
    }
}

// MARK: - Parsing

public enum SchemaParser {
    /// Kafka's files are JSON with whole-line `//` comments; drop them, keeping line numbers stable.
    public static func stripComments(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces).hasPrefix("//") ? "" : String($0) }
            .joined(separator: "\n")
    }

    public static func parse(fileName: String, contents: String) throws -> MessageSpec {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(stripComments(contents).utf8))
        guard case .object(let obj) = value else {
            throw SchemaError.invalid("\(fileName): top level is not an object")
        }
        guard let name = obj["name"]?.string, let kindText = obj["type"]?.string,
            let kind = MessageSpec.Kind(rawValue: kindText)
        else {
            throw SchemaError.invalid("\(fileName): missing name or type")
        }
        let fields = try (obj["fields"]?.array ?? []).map { try parseField($0, file: fileName) }
        let common = try (obj["commonStructs"]?.array ?? []).map { csValue -> StructSpec in
            guard case .object(let cs) = csValue, let n = cs["name"]?.string else {
                throw SchemaError.invalid("\(fileName): common struct without name")
            }
            return StructSpec(
                name: n,
                versions: try VersionRange(parsing: cs["versions"]?.string ?? "0+"),
                fields: try (cs["fields"]?.array ?? []).map { try parseField($0, file: fileName) }
            )
        }
        let spec = MessageSpec(
            fileName: fileName, apiKey: obj["apiKey"]?.number.map { Int($0) }, kind: kind, name: name,
            validVersions: try VersionRange(parsing: obj["validVersions"]?.string ?? "none"),
            flexibleVersions: try VersionRange(parsing: obj["flexibleVersions"]?.string ?? "none"),
            deprecatedVersions: try VersionRange(parsing: obj["deprecatedVersions"]?.string ?? "none"),
            latestVersionUnstable: obj["latestVersionUnstable"]?.bool ?? false,
            listeners: obj["listeners"]?.array?.compactMap(\.string) ?? [], fields: fields, commonStructs: common
        )
        try validate(spec)
        return spec
    }

    static func parseField(_ value: JSONValue, file: String) throws -> FieldSpec {
        guard case .object(let obj) = value, let name = obj["name"]?.string, let typeText = obj["type"]?.string else {
            throw SchemaError.invalid("\(file): field without name or type")
        }
        func range(_ key: String) throws -> VersionRange? {
            guard let s = obj[key]?.string else { return nil }
            return try VersionRange(parsing: s)
        }
        // Tags are numbers, but BrokerHeartbeatRequest writes one as the string "0".
        let tag: Int? = obj["tag"]?.number.map { Int($0) } ?? obj["tag"]?.string.flatMap { Int($0) }
        let defaultValue: String?
        switch obj["default"] {
        case .string(let s)?: defaultValue = s
        case .number(let n)?: defaultValue = n == n.rounded() ? String(Int64(n)) : String(n)
        case .bool(let b)?: defaultValue = b ? "true" : "false"
        default: defaultValue = nil
        }
        let inner = try obj["fields"]?.array?.map { try parseField($0, file: file) }
        guard let versionsText = obj["versions"]?.string else {
            throw SchemaError.invalid("\(file): field \(name) has no versions")
        }
        return FieldSpec(
            name: name, type: FieldType(parsing: typeText), versions: try VersionRange(parsing: versionsText),
            nullableVersions: try range("nullableVersions") ?? .none,
            taggedVersions: try range("taggedVersions") ?? .none,
            tag: tag, defaultValue: defaultValue, ignorable: obj["ignorable"]?.bool ?? false,
            entityType: obj["entityType"]?.string, mapKey: obj["mapKey"]?.bool ?? false,
            about: obj["about"]?.string, flexibleVersions: try range("flexibleVersions"), fields: inner
        )
    }

    /// The version algebra checks of kmsg and kafka-protocol-rs, done once at generation time.
    static func validate(_ spec: MessageSpec) throws {
        let file = spec.fileName
        guard spec.flexibleVersions.isEmpty || spec.flexibleVersions.highest == nil else {
            throw SchemaError.invalid("\(file): flexibleVersions must be open-ended")
        }
        var structNames = Set<String>()
        for s in spec.allStructs {
            guard structNames.insert(s.name).inserted else {
                throw SchemaError.invalid("\(file): struct \(s.name) defined twice")
            }
        }
        func check(_ fields: [FieldSpec], context: String) throws {
            var tags = Set<Int>()
            for f in fields {
                let where_ = "\(file): \(context).\(f.name)"
                if !f.nullableVersions.isEmpty && !f.type.canBeNull {
                    throw SchemaError.invalid("\(where_): nullableVersions on a type that cannot be null")
                }
                if !f.taggedVersions.isEmpty {
                    guard let tag = f.tag else { throw SchemaError.invalid("\(where_): taggedVersions without tag") }
                    guard tags.insert(tag).inserted else {
                        throw SchemaError.invalid("\(where_): duplicate tag \(tag)")
                    }
                    guard f.taggedVersions.highest == nil else {
                        throw SchemaError.invalid("\(where_): taggedVersions must be open-ended")
                    }
                    guard f.taggedVersions.isSubset(of: spec.flexibleVersions) else {
                        throw SchemaError.invalid("\(where_): tagged outside flexible versions")
                    }
                } else if f.tag != nil {
                    throw SchemaError.invalid("\(where_): tag without taggedVersions")
                }
                if let name = f.type.elementStructName, f.fields == nil, spec.structNamed(name) == nil {
                    throw SchemaError.invalid("\(where_): unknown struct \(name)")
                }
                if f.defaultValue == "null"
                    && !f.versions.intersection(spec.validVersions).isSubset(of: f.nullableVersions)
                {
                    throw SchemaError.invalid("\(where_): default null but not nullable in every version")
                }
                if let inner = f.fields { try check(inner, context: f.type.elementStructName ?? f.name) }
            }
        }
        try check(spec.fields, context: spec.name)
        for cs in spec.commonStructs { try check(cs.fields, context: cs.name) }
    }

    /// Reads every message file of a directory, sorted by file name.
    public static func loadDirectory(_ directory: URL) throws -> [MessageSpec] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".json") }.sorted()
        return try names.map { name in
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            return try parse(fileName: name, contents: text)
        }
    }
}

/// A strict JSON value: JSONDecoder keeps booleans and numbers apart, which Kafka's defaults rely on.
public enum JSONValue: Decodable, Sendable {
    case object([String: JSONValue]), array([JSONValue]), string(String), number(Double), bool(Bool), null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
}
