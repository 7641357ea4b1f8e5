import SkeinSchemas

/// One HTTP request as the shell received it. `path` is the raw (percent-encoded) request path without the query
/// string; `query` holds the decoded query parameters.
public struct RegistryRequest: Sendable {
    /// HTTP method, e.g. `GET` (compared case-insensitively).
    public var method: String
    /// Raw request path, e.g. `/subjects/orders-value/versions/latest`; segments are percent-decoded by `handle`.
    public var path: String
    /// Decoded query parameters (`deleted`, `permanent`, `subjectPrefix`, `defaultToGlobal`, `verbose`, ...).
    public var query: [String: String]
    /// Request body (JSON for POST and PUT).
    public var body: [UInt8]

    /// Creates a request.
    public init(method: String, path: String, query: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
    }
}

/// One HTTP response to send.
public struct RegistryResponse: Sendable, Equatable {
    /// The content type of every registry response.
    public static let schemaRegistryContentType = "application/vnd.schemaregistry.v1+json"

    /// HTTP status code.
    public var status: Int
    /// Content type (always `application/vnd.schemaregistry.v1+json`).
    public var contentType: String
    /// Response body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, contentType: String = RegistryResponse.schemaRegistryContentType, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// The body as UTF-8 text.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// One `_schemas` record (Confluent's JSON key and value; a nil value is a tombstone).
public struct RegistryRecord: Sendable, Equatable {
    /// Record key (JSON).
    public var key: [UInt8]
    /// Record value (JSON), or nil for a tombstone.
    public var value: [UInt8]?

    /// Creates a record.
    public init(key: [UInt8], value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// What the shell must do with a request.
public enum RegistryOutcome: Sendable, Equatable {
    /// Send this response now (reads, errors, and writes that change nothing).
    case respond(RegistryResponse)
    /// Append these records to `_schemas`; once they are committed and applied, send this response.
    case write([RegistryRecord], then: RegistryResponse)

    /// The response of either case.
    public var response: RegistryResponse {
        switch self {
        case .respond(let r): return r
        case .write(_, let r): return r
        }
    }

    /// The records to append (empty for `.respond`).
    public var records: [RegistryRecord] {
        switch self {
        case .respond: return []
        case .write(let records, _): return records
        }
    }
}

/// A schema reference: the named type `name` is defined by version `version` of subject `subject`.
public struct SchemaReference: Sendable, Hashable {
    /// Name used in the referencing schema (Avro full name of the referenced type, or a JSON Schema `$ref` URL).
    public var name: String
    /// Subject holding the referenced schema.
    public var subject: String
    /// Version of the referenced schema in `subject`.
    public var version: Int

    /// Creates a reference.
    public init(name: String, subject: String, version: Int) {
        self.name = name
        self.subject = subject
        self.version = version
    }

    var json: JSONValue {
        .object(JSONObject([("name", .string(name)), ("subject", .string(subject)), ("version", .integer(version))]))
    }

    init?(json: JSONValue) {
        guard let o = json.objectValue, let name = o["name"]?.stringValue, let subject = o["subject"]?.stringValue,
            let version = o["version"]?.intValue
        else { return nil }
        self.init(name: name, subject: subject, version: version)
    }
}

/// Registry modes (raw values as in the Confluent REST API).
public enum RegistryMode: String, Sendable, Hashable, CaseIterable {
    /// Reads and writes allowed.
    case readWrite = "READWRITE"
    /// Writes refused with 42205.
    case readOnly = "READONLY"
    /// Read-only, and a global setting overrides every subject-level mode.
    case readOnlyOverride = "READONLY_OVERRIDE"
    /// Registration with explicit ids and versions; no compatibility checks.
    case `import` = "IMPORT"

    /// True when schema writes are refused.
    public var isReadOnly: Bool { self == .readOnly || self == .readOnlyOverride }
}

/// A Confluent-style REST error: HTTP status, `error_code` and message.
struct RegistryError: Error, Equatable {
    let status: Int
    let code: Int
    let message: String

    var response: RegistryResponse {
        let body = JSONValue.object(JSONObject([("error_code", .integer(code)), ("message", .string(message))]))
        return RegistryResponse(status: status, body: Array(body.compactString.utf8))
    }

    static func subjectNotFound(_ s: String) -> RegistryError {
        .init(status: 404, code: 40401, message: "Subject '\(s)' not found.")
    }
    static func versionNotFound(_ v: Int) -> RegistryError {
        .init(status: 404, code: 40402, message: "Version \(v) not found.")
    }
    static func schemaNotFound(_ id: Int? = nil) -> RegistryError {
        .init(status: 404, code: 40403, message: id.map { "Schema \($0) not found" } ?? "Schema not found")
    }
    static func subjectSoftDeleted(_ s: String) -> RegistryError {
        .init(
            status: 404, code: 40404,
            message: "Subject '\(s)' was soft deleted.Set permanent=true to delete permanently")
    }
    static func subjectNotSoftDeleted(_ s: String) -> RegistryError {
        .init(
            status: 404, code: 40405, message: "Subject '\(s)' was not deleted first before being permanently deleted")
    }
    static func versionSoftDeleted(_ s: String, _ v: Int) -> RegistryError {
        .init(
            status: 404, code: 40406,
            message: "Subject '\(s)' Version \(v) was soft deleted.Set permanent=true to delete permanently")
    }
    static func versionNotSoftDeleted(_ s: String, _ v: Int) -> RegistryError {
        .init(
            status: 404, code: 40407,
            message: "Subject '\(s)' Version \(v) was not deleted first before being permanently deleted")
    }
    static func subjectCompatibilityNotConfigured(_ s: String) -> RegistryError {
        .init(status: 404, code: 40408, message: "Subject '\(s)' does not have subject-level compatibility configured")
    }
    static func subjectModeNotConfigured(_ s: String) -> RegistryError {
        .init(status: 404, code: 40409, message: "Subject '\(s)' does not have subject-level mode configured")
    }
    static func incompatible(_ message: String) -> RegistryError { .init(status: 409, code: 409, message: message) }
    static func invalidSchema(_ message: String) -> RegistryError { .init(status: 422, code: 42201, message: message) }
    static func invalidVersion(_ v: String) -> RegistryError {
        .init(
            status: 422, code: 42202,
            message: "The specified version '\(v)' is not a valid version id. "
                + "Allowed values are between [1, 2^31-1] and the string \"latest\"")
    }
    static let invalidCompatibilityLevel = RegistryError(
        status: 422, code: 42203,
        message: "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, "
            + "forward_transitive, and full_transitive")
    static let invalidMode = RegistryError(
        status: 422, code: 42204,
        message: "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, and IMPORT")
    static func operationNotPermitted(_ message: String) -> RegistryError {
        .init(status: 422, code: 42205, message: message)
    }
    static func referenceExists(_ message: String) -> RegistryError {
        .init(status: 422, code: 42206, message: message)
    }
    static func idDoesNotMatch(_ message: String) -> RegistryError { .init(status: 422, code: 42207, message: message) }
    static func unprocessable(_ message: String) -> RegistryError { .init(status: 422, code: 422, message: message) }
    static func badRequest(_ message: String) -> RegistryError { .init(status: 400, code: 400, message: message) }
    static func storeError(_ message: String) -> RegistryError { .init(status: 500, code: 50001, message: message) }
    static let notFound = RegistryError(status: 404, code: 404, message: "HTTP 404 Not Found")
    static let methodNotAllowed = RegistryError(status: 405, code: 405, message: "HTTP 405 Method Not Allowed")
}

extension JSONValue {
    /// An integer number value.
    static func integer(_ v: Int) -> JSONValue { .number(JSONNumber(Int64(v))) }

    /// The value as an `Int` when it is an integer literal that fits.
    var intValue: Int? {
        guard let n = numberValue?.int64Value else { return nil }
        return Int(exactly: n)
    }

    /// Parses UTF-8 JSON bytes; nil when the bytes are not valid UTF-8 or not valid JSON.
    static func parse(bytes: [UInt8]) -> JSONValue? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return try? JSONValue.parse(text)
    }

    /// Compact serialization as UTF-8 bytes.
    var bytes: [UInt8] { Array(compactString.utf8) }
}
