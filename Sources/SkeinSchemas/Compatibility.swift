import Foundation

/// Schema Registry compatibility levels (raw values as used by the Confluent REST API).
public enum CompatibilityLevel: String, Sendable, Hashable, CaseIterable {
    /// No checking.
    case none = "NONE"
    /// The new schema can read data written with the latest schema.
    case backward = "BACKWARD"
    /// The new schema can read data written with every previous schema.
    case backwardTransitive = "BACKWARD_TRANSITIVE"
    /// The latest schema can read data written with the new schema.
    case forward = "FORWARD"
    /// Every previous schema can read data written with the new schema.
    case forwardTransitive = "FORWARD_TRANSITIVE"
    /// Both backward and forward against the latest schema.
    case full = "FULL"
    /// Both backward and forward against every previous schema.
    case fullTransitive = "FULL_TRANSITIVE"

    /// True when the new schema must read old data.
    public var checksBackward: Bool { [.backward, .backwardTransitive, .full, .fullTransitive].contains(self) }
    /// True when old schemas must read new data.
    public var checksForward: Bool { [.forward, .forwardTransitive, .full, .fullTransitive].contains(self) }
    /// True when every previous schema is checked rather than only the latest.
    public var isTransitive: Bool { [.backwardTransitive, .forwardTransitive, .fullTransitive].contains(self) }
}

/// One reason why two schemas are incompatible, in a schema-type-neutral shape.
public struct CompatibilityIssue: Sendable, Hashable {
    /// Confluent-style error type, e.g. `READER_FIELD_MISSING_DEFAULT_VALUE` or `TYPE_NARROWED`.
    public let errorType: String
    /// Location inside the schema (`/fields/1/type` for Avro, `#/properties/age` for JSON Schema).
    public let path: String
    /// Confluent-style description naming the new/old schema roles.
    public let description: String
    /// Extra detail (field name, missing symbols, expected type, ...).
    public let additionalInfo: String?
    /// Index into the `previous` array of the schema this issue was found against.
    public let previousIndex: Int

    /// Creates an issue.
    public init(errorType: String, path: String, description: String, additionalInfo: String?, previousIndex: Int) {
        self.errorType = errorType
        self.path = path
        self.description = description
        self.additionalInfo = additionalInfo
        self.previousIndex = previousIndex
    }

    /// The message in Confluent 7.x verbose shape:
    /// `{errorType:'TYPE', description:'...', additionalInfo:'...'}`.
    public var confluentMessage: String {
        var s = "{errorType:'\(errorType)', description:'\(description)'"
        if let additionalInfo { s += ", additionalInfo:'\(additionalInfo)'" }
        return s + "}"
    }
}

/// Outcome of checking a new schema against the history at a compatibility level.
public struct CompatibilityResult: Sendable, Hashable {
    /// The level that was checked.
    public let level: CompatibilityLevel
    /// All incompatibilities found (empty when compatible).
    public let issues: [CompatibilityIssue]
    /// Index into `previous` of the schema the check failed against, if any.
    public let failedAgainstIndex: Int?

    /// Creates a result.
    public init(level: CompatibilityLevel, issues: [CompatibilityIssue], failedAgainstIndex: Int?) {
        self.level = level
        self.issues = issues
        self.failedAgainstIndex = failedAgainstIndex
    }

    /// True when no incompatibility was found.
    public var isCompatible: Bool { issues.isEmpty }

    /// Messages in Confluent's verbose style: one per issue followed by `{oldSchemaVersion: n}` (1-based position
    /// in `previous`) and `{compatibility: 'LEVEL'}`; empty when compatible.
    public var messages: [String] {
        guard !issues.isEmpty else { return [] }
        var out = issues.map(\.confluentMessage)
        if let failedAgainstIndex { out.append("{oldSchemaVersion: \(failedAgainstIndex + 1)}") }
        out.append("{compatibility: '\(level.rawValue)'}")
        return out
    }
}

/// Level-driving logic shared by all schema types.
enum CompatibilityDriver {
    /// Runs `pairCheck(reader, writer, readerIsNew, previousIndex)` in the directions and against the history
    /// required by `level`. Previous schemas are ordered oldest first and are checked newest first; checking
    /// stops at the first previous schema that yields issues (as Confluent does).
    static func run<S>(new: S, previous: [S], level: CompatibilityLevel,
                       pairCheck: (_ reader: S, _ writer: S, _ readerIsNew: Bool, _ previousIndex: Int) -> [CompatibilityIssue]) -> CompatibilityResult {
        guard level != .none, !previous.isEmpty else { return CompatibilityResult(level: level, issues: [], failedAgainstIndex: nil) }
        let indices: [Int] = level.isTransitive ? Array(previous.indices.reversed()) : [previous.count - 1]
        for i in indices {
            var issues: [CompatibilityIssue] = []
            if level.checksBackward { issues += pairCheck(new, previous[i], true, i) }
            if level.checksForward { issues += pairCheck(previous[i], new, false, i) }
            if !issues.isEmpty { return CompatibilityResult(level: level, issues: issues, failedAgainstIndex: i) }
        }
        return CompatibilityResult(level: level, issues: [], failedAgainstIndex: nil)
    }
}
