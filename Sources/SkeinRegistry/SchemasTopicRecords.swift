import SkeinSchemas

/// A decoded `_schemas` key in Confluent's JSON format (`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`).
enum SchemasTopicKey: Hashable {
    /// A schema version (magic 1).
    case schema(subject: String, version: Int)
    /// A compatibility config; nil subject = global (magic 0).
    case config(subject: String?)
    /// A mode; nil subject = global (magic 0).
    case mode(subject: String?)
    /// Soft delete of a whole subject up to the version in the value (magic 0).
    case deleteSubject(subject: String)
    /// Removal of a subject's soft-deleted versions (magic 0).
    case clearSubject(subject: String)
    /// A no-op marker written by Confluent's leader election (magic 0).
    case noop

    /// The Confluent JSON encoding, keys in Confluent's order.
    var json: JSONValue {
        func subjectValue(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        switch self {
        case .schema(let s, let v):
            return .object(
                JSONObject([
                    ("keytype", .string("SCHEMA")), ("subject", .string(s)), ("version", .integer(v)),
                    ("magic", .integer(1)),
                ]))
        case .config(let s):
            return .object(
                JSONObject([("keytype", .string("CONFIG")), ("subject", subjectValue(s)), ("magic", .integer(0))]))
        case .mode(let s):
            return .object(
                JSONObject([("keytype", .string("MODE")), ("subject", subjectValue(s)), ("magic", .integer(0))]))
        case .deleteSubject(let s):
            return .object(
                JSONObject([("keytype", .string("DELETE_SUBJECT")), ("subject", .string(s)), ("magic", .integer(0))]))
        case .clearSubject(let s):
            return .object(
                JSONObject([("keytype", .string("CLEAR_SUBJECT")), ("subject", .string(s)), ("magic", .integer(0))]))
        case .noop:
            return .object(JSONObject([("keytype", .string("NOOP")), ("magic", .integer(0))]))
        }
    }

    /// Decodes a key; nil for malformed or unknown keys.
    init?(bytes: [UInt8]) {
        guard let o = JSONValue.parse(bytes: bytes)?.objectValue, let keytype = o["keytype"]?.stringValue else {
            return nil
        }
        let subject: String?
        switch o["subject"] {
        case nil, .null?: subject = nil
        case .string(let s)?: subject = s
        default: return nil
        }
        switch keytype {
        case "SCHEMA":
            guard let subject, let version = o["version"]?.intValue else { return nil }
            self = .schema(subject: subject, version: version)
        case "CONFIG": self = .config(subject: subject)
        case "MODE": self = .mode(subject: subject)
        case "DELETE_SUBJECT":
            guard let subject else { return nil }
            self = .deleteSubject(subject: subject)
        case "CLEAR_SUBJECT":
            guard let subject else { return nil }
            self = .clearSubject(subject: subject)
        case "NOOP": self = .noop
        default: return nil
        }
    }
}

/// One stored schema version (Confluent's `SchemaValue`).
struct StoredSchema: Hashable {
    var subject: String
    var version: Int
    var id: Int
    var type: SchemaType
    /// The schema string as stored.
    var schema: String
    var references: [SchemaReference]
    var deleted: Bool

    /// What makes two registrations "the same schema": type, compact text, references.
    var identity: SchemaIdentity {
        SchemaIdentity(type: type, text: SchemaIdentity.compact(schema), references: references)
    }

    /// Confluent's JSON encoding: `subject, version, id, schemaType (omitted for AVRO), references (omitted when empty),
    /// schema, deleted`.
    var json: JSONValue {
        var o = JSONObject([("subject", .string(subject)), ("version", .integer(version)), ("id", .integer(id))])
        if type != .avro { o["schemaType"] = .string(type.rawValue) }
        if !references.isEmpty { o["references"] = .array(references.map(\.json)) }
        o["schema"] = .string(schema)
        o["deleted"] = .bool(deleted)
        return .object(o)
    }

    /// Decodes a value for the key's subject and version; nil when malformed.
    init?(bytes: [UInt8], subject: String, version: Int) {
        guard let o = JSONValue.parse(bytes: bytes)?.objectValue, let id = o["id"]?.intValue, id > 0,
            let schema = o["schema"]?.stringValue, version > 0
        else { return nil }
        if let s = o["subject"], s.stringValue != subject { return nil }
        if let v = o["version"], v.intValue != version { return nil }
        var type = SchemaType.avro
        switch o["schemaType"] {
        case nil, .null?: break
        case .string(let t)?:
            guard let parsed = SchemaType(rawValue: t) else { return nil }
            type = parsed
        default: return nil
        }
        var references: [SchemaReference] = []
        switch o["references"] {
        case nil, .null?: break
        case .array(let items)?:
            for item in items {
                guard let r = SchemaReference(json: item) else { return nil }
                references.append(r)
            }
        default: return nil
        }
        var deleted = false
        switch o["deleted"] {
        case nil, .null?: break
        case .bool(let b)?: deleted = b
        default: return nil
        }
        self.init(
            subject: subject, version: version, id: id, type: type, schema: schema, references: references,
            deleted: deleted)
    }

    init(
        subject: String, version: Int, id: Int, type: SchemaType, schema: String, references: [SchemaReference],
        deleted: Bool
    ) {
        self.subject = subject
        self.version = version
        self.id = id
        self.type = type
        self.schema = schema
        self.references = references
        self.deleted = deleted
    }

    var record: RegistryRecord {
        RegistryRecord(key: SchemasTopicKey.schema(subject: subject, version: version).json.bytes, value: json.bytes)
    }
}

/// The identity of a schema for id reuse and "already registered" lookups.
struct SchemaIdentity: Hashable {
    var type: SchemaType
    /// The schema text re-serialized compactly (whitespace removed, key order kept); the raw text if it is not JSON.
    var text: String
    var references: [SchemaReference]

    static func compact(_ schema: String) -> String { (try? JSONValue.parse(schema).compactString) ?? schema }
}

/// Record builders for the non-schema key types.
enum SchemasTopicRecords {
    static func config(subject: String?, level: CompatibilityLevel?) -> RegistryRecord {
        RegistryRecord(
            key: SchemasTopicKey.config(subject: subject).json.bytes,
            value: level.map { JSONValue.object(JSONObject([("compatibilityLevel", .string($0.rawValue))])).bytes })
    }

    static func mode(subject: String?, mode: RegistryMode?) -> RegistryRecord {
        RegistryRecord(
            key: SchemasTopicKey.mode(subject: subject).json.bytes,
            value: mode.map { JSONValue.object(JSONObject([("mode", .string($0.rawValue))])).bytes })
    }

    static func deleteSubject(_ subject: String, upTo version: Int) -> RegistryRecord {
        RegistryRecord(
            key: SchemasTopicKey.deleteSubject(subject: subject).json.bytes,
            value: JSONValue.object(JSONObject([("subject", .string(subject)), ("version", .integer(version))])).bytes)
    }

    static func clearSubject(_ subject: String) -> RegistryRecord {
        RegistryRecord(
            key: SchemasTopicKey.clearSubject(subject: subject).json.bytes,
            value: JSONValue.object(JSONObject([("subject", .string(subject))])).bytes)
    }

    static func schemaTombstone(subject: String, version: Int) -> RegistryRecord {
        RegistryRecord(key: SchemasTopicKey.schema(subject: subject, version: version).json.bytes, value: nil)
    }
}
