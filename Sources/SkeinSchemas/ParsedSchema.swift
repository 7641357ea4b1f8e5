import Foundation

/// Schema formats known to the registry (raw values as in the Confluent REST API).
public enum SchemaType: String, Sendable, Hashable, CaseIterable {
    /// Apache Avro.
    case avro = "AVRO"
    /// JSON Schema.
    case json = "JSON"
    /// Protocol Buffers (recognized, not supported by this module).
    case protobuf = "PROTOBUF"
}

/// Error raised by `ParsedSchema.parse`.
public enum SchemaParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The schema type is recognized but cannot be parsed here.
    case unsupportedSchemaType(SchemaType)
    /// The Avro schema is invalid.
    case avro(AvroSchemaError)
    /// The JSON Schema is invalid.
    case json(JSONSchemaError)

    /// Human-readable message.
    public var description: String {
        switch self {
        case .unsupportedSchemaType(let t): return "unsupported schema type \(t.rawValue)"
        case .avro(let e): return "invalid Avro schema: \(e.message)"
        case .json(let e): return "invalid JSON schema: \(e.description)"
        }
    }
}

/// A parsed schema of any supported type, with the operations the registry needs.
public struct ParsedSchema: Sendable, Hashable {
    /// The parsed content.
    public enum Content: Sendable, Hashable {
        /// An Avro schema.
        case avro(AvroSchema)
        /// A JSON Schema.
        case json(JSONSchema)
    }

    /// The schema type.
    public let type: SchemaType
    /// The schema text exactly as submitted.
    public let text: String
    /// The parsed content.
    public let content: Content

    /// Parses `text` as a schema of `type`. Avro named-type references may be supplied as `avroReferences`.
    public static func parse(_ text: String, type: SchemaType, avroReferences: [AvroSchema] = []) throws(SchemaParseError) -> ParsedSchema {
        switch type {
        case .avro:
            do { return ParsedSchema(type: type, text: text, content: .avro(try AvroSchema.parse(text, referencedSchemas: avroReferences))) }
            catch { throw .avro(error) }
        case .json:
            do { return ParsedSchema(type: type, text: text, content: .json(try JSONSchema.parse(text))) }
            catch { throw .json(error) }
        case .protobuf:
            throw .unsupportedSchemaType(.protobuf)
        }
    }

    /// Canonical string used for "same schema" lookups: Avro Parsing Canonical Form, or JSON with sorted keys.
    public var canonicalString: String {
        switch content {
        case .avro(let s): return s.canonicalForm
        case .json(let s): return s.canonicalString
        }
    }

    /// The submitted schema re-serialized compactly, attributes and key order kept (Confluent's stored form).
    public var compactString: String {
        switch content {
        case .avro(let s): return s.compactString
        case .json(let s): return s.json.compactString
        }
    }

    /// True when both schemas have the same type and canonical string.
    public func isIdentical(to other: ParsedSchema) -> Bool { type == other.type && canonicalString == other.canonicalString }

    /// Checks this (new) schema against `previous` (oldest first) at `level`.
    /// A previous schema of a different type makes the check fail with `SCHEMA_TYPE_MISMATCH`.
    public func checkCompatibility(previous: [ParsedSchema], level: CompatibilityLevel) -> CompatibilityResult {
        CompatibilityDriver.run(new: self, previous: previous, level: level) { reader, writer, readerIsNew, index in
            switch (reader.content, writer.content) {
            case (.avro(let r), .avro(let w)):
                return AvroCompatibility.check(reader: r, writer: w).map { $0.issue(readerIsNew: readerIsNew, previousIndex: index) }
            case (.json(let r), .json(let w)):
                return JSONSchemaCompatibility.check(reader: r, writer: w).map { $0.issue(updateIsNew: readerIsNew, previousIndex: index) }
            default:
                return [CompatibilityIssue(errorType: "SCHEMA_TYPE_MISMATCH", path: "/",
                                           description: "The new schema type \(readerIsNew ? reader.type.rawValue : writer.type.rawValue) does not match the old schema type \(readerIsNew ? writer.type.rawValue : reader.type.rawValue)",
                                           additionalInfo: nil, previousIndex: index)]
            }
        }
    }
}

/// Checks `new` against `previous` (oldest first) at `level`; see `ParsedSchema.checkCompatibility`.
public func checkCompatibility(new: ParsedSchema, previous: [ParsedSchema], level: CompatibilityLevel) -> CompatibilityResult {
    new.checkCompatibility(previous: previous, level: level)
}
