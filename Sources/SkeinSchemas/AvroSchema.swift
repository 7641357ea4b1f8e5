import Foundation

/// The eight Avro primitive types.
public enum AvroPrimitive: String, Sendable, Hashable, CaseIterable {
    /// `null`
    case null
    /// `boolean`
    case boolean
    /// 32-bit signed `int`
    case int
    /// 64-bit signed `long`
    case long
    /// 32-bit IEEE `float`
    case float
    /// 64-bit IEEE `double`
    case double
    /// Byte sequence `bytes`
    case bytes
    /// Unicode `string`
    case string
}

/// A (valid) Avro logical type annotation. Invalid annotations are dropped at parse time, per the specification.
public enum AvroLogicalType: Sendable, Hashable {
    /// `decimal` on bytes or fixed.
    case decimal(precision: Int, scale: Int)
    /// `uuid` on string.
    case uuid
    /// `date` on int.
    case date
    /// `time-millis` on int.
    case timeMillis
    /// `time-micros` on long.
    case timeMicros
    /// `timestamp-millis` on long.
    case timestampMillis
    /// `timestamp-micros` on long.
    case timestampMicros
    /// `local-timestamp-millis` on long.
    case localTimestampMillis
    /// `local-timestamp-micros` on long.
    case localTimestampMicros
    /// `duration` on fixed(12).
    case duration

    /// The `logicalType` attribute value.
    public var name: String {
        switch self {
        case .decimal: return "decimal"
        case .uuid: return "uuid"
        case .date: return "date"
        case .timeMillis: return "time-millis"
        case .timeMicros: return "time-micros"
        case .timestampMillis: return "timestamp-millis"
        case .timestampMicros: return "timestamp-micros"
        case .localTimestampMillis: return "local-timestamp-millis"
        case .localTimestampMicros: return "local-timestamp-micros"
        case .duration: return "duration"
        }
    }
}

/// A resolved Avro name: simple name plus (possibly empty) namespace.
public struct AvroName: Sendable, Hashable, CustomStringConvertible {
    /// The unqualified name.
    public let name: String
    /// The namespace, or the empty string for the null namespace.
    public let namespace: String

    /// Creates a name from parts.
    public init(name: String, namespace: String) {
        self.name = name
        self.namespace = namespace
    }

    /// The full name, `namespace.name` (or just `name` in the null namespace).
    public var fullName: String { namespace.isEmpty ? name : namespace + "." + name }
    /// Same as `fullName`.
    public var description: String { fullName }
}

/// Field sort order.
public enum AvroFieldOrder: String, Sendable, Hashable {
    /// `ascending` (the default)
    case ascending
    /// `descending`
    case descending
    /// `ignore`
    case ignore
}

/// One field of a record.
public struct AvroField: Sendable, Hashable {
    /// Field name.
    public let name: String
    /// Field type.
    public let type: AvroType
    /// Optional documentation.
    public let doc: String?
    /// Default value as written in the schema (already validated against `type`).
    public let defaultValue: JSONValue?
    /// Sort order.
    public let order: AvroFieldOrder
    /// Alternative names of the field.
    public let aliases: [String]
    /// Zero-based position in the record.
    public let position: Int

    /// True when the field declares a default (a JSON `null` default counts).
    public var hasDefault: Bool { defaultValue != nil }
}

/// A record (or error) definition.
public struct AvroRecord: Sendable, Hashable {
    /// Resolved name.
    public let name: AvroName
    /// Alias full names.
    public let aliases: [String]
    /// Optional documentation.
    public let doc: String?
    /// Fields in declaration order.
    public let fields: [AvroField]
    /// True when declared with `"type": "error"`.
    public let isError: Bool

    /// The field with the given name, if any.
    public func field(named name: String) -> AvroField? { fields.first(where: { $0.name == name }) }
}

/// An enum definition.
public struct AvroEnum: Sendable, Hashable {
    /// Resolved name.
    public let name: AvroName
    /// Alias full names.
    public let aliases: [String]
    /// Optional documentation.
    public let doc: String?
    /// Symbols in declaration order.
    public let symbols: [String]
    /// Default symbol used by readers for unknown writer symbols.
    public let defaultSymbol: String?
}

/// A fixed definition.
public struct AvroFixed: Sendable, Hashable {
    /// Resolved name.
    public let name: AvroName
    /// Alias full names.
    public let aliases: [String]
    /// Optional documentation.
    public let doc: String?
    /// Size in bytes.
    public let size: Int
    /// Optional (valid) logical type.
    public let logicalType: AvroLogicalType?
}

/// A node of an Avro schema tree. Named types appear in full at their definition and as `.reference` elsewhere.
public indirect enum AvroType: Sendable, Hashable {
    /// A primitive, optionally with a valid logical type.
    case primitive(AvroPrimitive, logicalType: AvroLogicalType?)
    /// A record definition.
    case record(AvroRecord)
    /// An enum definition.
    case enumeration(AvroEnum)
    /// A fixed definition.
    case fixed(AvroFixed)
    /// An array with the given item type.
    case array(AvroType)
    /// A map with string keys and the given value type.
    case map(AvroType)
    /// A union of branches.
    case union([AvroType])
    /// A use of a named type defined elsewhere (full name); resolve it through `AvroSchema.namedTypes`.
    case reference(String)

    /// Convenience for a primitive without a logical type.
    public static func primitive(_ p: AvroPrimitive) -> AvroType { .primitive(p, logicalType: nil) }

    /// The full name when this node is a named type definition or reference.
    public var namedTypeFullName: String? {
        switch self {
        case .record(let r): return r.name.fullName
        case .enumeration(let e): return e.name.fullName
        case .fixed(let f): return f.name.fullName
        case .reference(let n): return n
        default: return nil
        }
    }
}

/// A parsed Avro schema: the root type plus every named type it defines or references.
public struct AvroSchema: Sendable, Hashable {
    /// The root type.
    public let root: AvroType
    /// All named types visible to this schema (defined here or supplied as references), by full name.
    public let namedTypes: [String: AvroType]
    /// The full names of the named types defined by this schema text itself, in definition order.
    public let definedNames: [String]
    /// The parsed source JSON.
    public let json: JSONValue

    /// Creates a schema value; normally produced by `AvroSchema.parse`.
    public init(root: AvroType, namedTypes: [String: AvroType], definedNames: [String], json: JSONValue) {
        self.root = root
        self.namedTypes = namedTypes
        self.definedNames = definedNames
        self.json = json
    }

    /// Follows `.reference` nodes to the named definition (returns `type` unchanged otherwise or when unknown).
    public func resolve(_ type: AvroType) -> AvroType {
        if case .reference(let name) = type, let def = namedTypes[name] { return def }
        return type
    }

    /// The definitions of named types created by this schema (suitable as references for other schemas).
    public var definedTypes: [String: AvroType] {
        var out: [String: AvroType] = [:]
        for n in definedNames { out[n] = namedTypes[n] }
        return out
    }

    /// Source JSON re-serialized compactly with original attributes and key order (Confluent's stored form).
    public var compactString: String { json.compactString }
}
