import Foundation

/// Incompatibility categories, mirroring Avro's `SchemaCompatibility.SchemaIncompatibilityType`.
public enum AvroIncompatibilityType: String, Sendable, Hashable, CaseIterable {
    /// Named types (record, enum, fixed) whose names do not match (and no reader alias matches).
    case nameMismatch = "NAME_MISMATCH"
    /// Fixed types of different sizes.
    case fixedSizeMismatch = "FIXED_SIZE_MISMATCH"
    /// Writer enum symbols unknown to a reader enum without a default.
    case missingEnumSymbols = "MISSING_ENUM_SYMBOLS"
    /// A reader field absent from the writer record has no default.
    case readerFieldMissingDefaultValue = "READER_FIELD_MISSING_DEFAULT_VALUE"
    /// Types that cannot be resolved (and no promotion applies).
    case typeMismatch = "TYPE_MISMATCH"
    /// A reader union with no branch able to read a writer type.
    case missingUnionBranch = "MISSING_UNION_BRANCH"
}

/// One Avro schema-resolution failure found by `AvroCompatibility.check`.
public struct AvroIncompatibility: Sendable, Hashable, CustomStringConvertible {
    /// Category.
    public let type: AvroIncompatibilityType
    /// JSON-pointer-like location in the reader schema, e.g. `/fields/2/type` (`/` for the root).
    public let location: String
    /// Human-readable message naming the field and the violated rule.
    public let message: String
    /// Avro-Java-style detail (`expected: com.acme.User`, `[C, D]`, the field name, ...).
    public let detail: String
    /// Name of the reader field concerned, when the problem is inside a record field.
    public let fieldName: String?

    /// `TYPE at LOCATION: MESSAGE`.
    public var description: String { "\(type.rawValue) at \(location): \(message)" }

    /// A Confluent-style issue, describing the reader/writer as the new/old schema.
    public func issue(readerIsNew: Bool, previousIndex: Int) -> CompatibilityIssue {
        let reader = readerIsNew ? "new" : "old"
        let writer = readerIsNew ? "old" : "new"
        let text: String
        switch type {
        case .nameMismatch: text = "The name of the schema has changed (path '\(location)')"
        case .fixedSizeMismatch: text = "The size of FIXED type field at path '\(location)' in the \(reader) schema does not match with the \(writer) schema"
        case .missingEnumSymbols: text = "The \(reader) schema is missing enum symbols '\(detail)' at path '\(location)' in the \(writer) schema"
        case .readerFieldMissingDefaultValue: text = "The field '\(fieldName ?? detail)' at path '\(location)' in the \(reader) schema has no default value and is missing in the \(writer) schema"
        case .typeMismatch: text = "The type (path '\(location)') of a field in the \(reader) schema does not match with the \(writer) schema"
        case .missingUnionBranch: text = "The \(reader) schema is missing a type inside a union field at path '\(location)' in the \(writer) schema"
        }
        return CompatibilityIssue(errorType: type.rawValue, path: location, description: text, additionalInfo: detail, previousIndex: previousIndex)
    }
}

/// Avro schema resolution (specification section "Schema Resolution") used as a compatibility checker.
///
/// Mirrors Avro Java's `SchemaCompatibility` (same incompatibility types and rules) with two deliberate
/// differences: locations inside a writer union read by a non-union reader keep their full path (Java resets
/// them to the root), and results for recursive named-type pairs are memoized with relative paths.
/// Reader aliases of named types are qualified with the reader type's namespace, as the specification says.
/// Checked against Apache Avro's Python checker with `scripts/avro-crosscheck.py`.
public enum AvroCompatibility {
    /// Returns every reason why data written with `writer` cannot be read with `reader` (empty when it can).
    public static func check(reader: AvroSchema, writer: AvroSchema) -> [AvroIncompatibility] {
        var checker = AvroResolutionChecker(reader: reader, writer: writer)
        let found = checker.compare(reader.root, writer.root, field: nil)
        var seen: Set<AvroIncompatibility> = []
        return found.compactMap { rel in
            let abs = rel.absolute
            return seen.insert(abs).inserted ? abs : nil
        }
    }

    /// True when `reader` can read data written with `writer`.
    public static func canRead(reader: AvroSchema, writer: AvroSchema) -> Bool { check(reader: reader, writer: writer).isEmpty }

    /// Checks `new` against `previous` (oldest first) at `level`.
    public static func checkCompatibility(new: AvroSchema, previous: [AvroSchema], level: CompatibilityLevel) -> CompatibilityResult {
        CompatibilityDriver.run(new: new, previous: previous, level: level) { reader, writer, readerIsNew, index in
            check(reader: reader, writer: writer).map { $0.issue(readerIsNew: readerIsNew, previousIndex: index) }
        }
    }
}

/// An incompatibility whose location is relative to the node being compared (path segments, innermost last).
struct RelativeIncompatibility: Hashable {
    var type: AvroIncompatibilityType
    var segments: [String]
    var message: String
    var detail: String
    var fieldName: String?

    func prefixed(_ prefix: [String]) -> RelativeIncompatibility {
        var c = self
        c.segments = prefix + segments
        return c
    }

    var absolute: AvroIncompatibility {
        AvroIncompatibility(type: type, location: "/" + segments.joined(separator: "/"), message: message, detail: detail, fieldName: fieldName)
    }
}

/// Recursive reader/writer comparison with memoization of named-type pairs (handles recursive schemas).
struct AvroResolutionChecker {
    let reader: AvroSchema
    let writer: AvroSchema
    /// Completed results per (reader full name, writer full name); nil while in progress.
    private var memo: [String: [RelativeIncompatibility]?] = [:]

    init(reader: AvroSchema, writer: AvroSchema) {
        self.reader = reader
        self.writer = writer
    }

    private static func q(_ s: String) -> String { "\"\(s)\"" }

    /// The Avro-Java type name of a (resolved) node, e.g. `INT`, `RECORD`.
    static func javaTypeName(_ t: AvroType) -> String {
        switch t {
        case .primitive(let p, _): return p.rawValue.uppercased()
        case .record: return "RECORD"
        case .enumeration: return "ENUM"
        case .fixed: return "FIXED"
        case .array: return "ARRAY"
        case .map: return "MAP"
        case .union: return "UNION"
        case .reference: return "UNKNOWN"
        }
    }

    /// A short human description of a (resolved) node.
    static func describe(_ t: AvroType) -> String {
        switch t {
        case .primitive(let p, _): return p.rawValue
        case .record(let r): return "record \(q(r.name.fullName))"
        case .enumeration(let e): return "enum \(q(e.name.fullName))"
        case .fixed(let f): return "fixed \(q(f.name.fullName))"
        case .array: return "array"
        case .map: return "map"
        case .union: return "union"
        case .reference(let n): return "unknown type \(q(n))"
        }
    }

    private func context(_ field: String?) -> String { field.map { "\($0): " } ?? "" }

    private func mismatch(_ r: AvroType, _ w: AvroType, field: String?, fieldName: String?) -> RelativeIncompatibility {
        RelativeIncompatibility(
            type: .typeMismatch, segments: [],
            message: "\(context(field))reader type \(Self.describe(r)) cannot read writer type \(Self.describe(w)) (not the same type and no promotion applies)",
            detail: "reader type: \(Self.javaTypeName(r)) not compatible with writer type: \(Self.javaTypeName(w))",
            fieldName: fieldName)
    }

    /// Compares resolved-or-reference nodes; `field` is a description of the enclosing reader field for messages.
    mutating func compare(_ readerType: AvroType, _ writerType: AvroType, field: String?, fieldName: String? = nil) -> [RelativeIncompatibility] {
        let r = reader.resolve(readerType)
        let w = writer.resolve(writerType)

        if case .union(let writerBranches) = w {
            var out: [RelativeIncompatibility] = []
            if case .union = r {
                for (i, wb) in writerBranches.enumerated() {
                    out += compare(r, wb, field: field, fieldName: fieldName).map { $0.prefixed([String(i)]) }
                }
            } else {
                for wb in writerBranches { out += compare(r, wb, field: field, fieldName: fieldName) }
            }
            return out
        }

        switch (r, w) {
        case (.union(let readerBranches), _):
            for rb in readerBranches where compare(rb, w, field: field, fieldName: fieldName).isEmpty { return [] }
            return [RelativeIncompatibility(
                type: .missingUnionBranch, segments: [],
                message: "\(context(field))reader union has no branch that can read writer type \(Self.describe(w))",
                detail: "reader union lacking writer type: \(Self.javaTypeName(w))", fieldName: fieldName)]

        case (.primitive(let rp, _), .primitive(let wp, _)):
            if rp == wp { return [] }
            switch (rp, wp) {
            case (.long, .int), (.float, .int), (.float, .long), (.double, .int), (.double, .long), (.double, .float),
                 (.bytes, .string), (.string, .bytes):
                return []
            default:
                return [mismatch(r, w, field: field, fieldName: fieldName)]
            }

        case (.record(let rr), .record(let wr)):
            let key = rr.name.fullName + "\u{0}" + wr.name.fullName
            if let cached = memo[key] { return cached ?? [] }
            memo[key] = .some(nil)
            var out = nameCheck(rr.name, rr.aliases, wr.name, kind: "record", field: field, fieldName: fieldName)
            out += compareFields(rr, wr)
            memo[key] = .some(out)
            return out

        case (.enumeration(let re), .enumeration(let we)):
            var out = nameCheck(re.name, re.aliases, we.name, kind: "enum", field: field, fieldName: fieldName)
            let readerSymbols = Set(re.symbols)
            let missing = we.symbols.filter { !readerSymbols.contains($0) }
            if !missing.isEmpty && re.defaultSymbol == nil {
                out.append(RelativeIncompatibility(
                    type: .missingEnumSymbols, segments: ["symbols"],
                    message: "\(context(field))reader enum \(Self.q(re.name.fullName)) lacks writer symbols \(missing.map(Self.q).joined(separator: ", ")) and has no default symbol",
                    detail: "[" + missing.joined(separator: ", ") + "]", fieldName: fieldName))
            }
            return out

        case (.fixed(let rf), .fixed(let wf)):
            var out = nameCheck(rf.name, rf.aliases, wf.name, kind: "fixed", field: field, fieldName: fieldName)
            if rf.size != wf.size {
                out.append(RelativeIncompatibility(
                    type: .fixedSizeMismatch, segments: ["size"],
                    message: "\(context(field))reader fixed \(Self.q(rf.name.fullName)) has size \(rf.size) but writer fixed has size \(wf.size)",
                    detail: "expected: \(wf.size), found: \(rf.size)", fieldName: fieldName))
            }
            return out

        case (.array(let ri), .array(let wi)):
            return compare(ri, wi, field: field, fieldName: fieldName).map { $0.prefixed(["items"]) }

        case (.map(let rv), .map(let wv)):
            return compare(rv, wv, field: field, fieldName: fieldName).map { $0.prefixed(["values"]) }

        default:
            return [mismatch(r, w, field: field, fieldName: fieldName)]
        }
    }

    /// Names match when the unqualified names are equal or a reader alias equals the writer's full name.
    private func nameCheck(_ rn: AvroName, _ aliases: [String], _ wn: AvroName, kind: String, field: String?, fieldName: String?) -> [RelativeIncompatibility] {
        if rn.name == wn.name || aliases.contains(wn.fullName) { return [] }
        return [RelativeIncompatibility(
            type: .nameMismatch, segments: ["name"],
            message: "\(context(field))reader \(kind) \(Self.q(rn.fullName)) does not match writer \(kind) \(Self.q(wn.fullName)) by unqualified name or reader alias",
            detail: "expected: \(wn.fullName)", fieldName: fieldName)]
    }

    private mutating func compareFields(_ rr: AvroRecord, _ wr: AvroRecord) -> [RelativeIncompatibility] {
        var out: [RelativeIncompatibility] = []
        for rf in rr.fields {
            let base = ["fields", String(rf.position)]
            let writerField = wr.field(named: rf.name) ?? rf.aliases.lazy.compactMap { wr.field(named: $0) }.first
            let here = "field \(Self.q(rf.name)) of record \(Self.q(rr.name.fullName))"
            guard let wf = writerField else {
                if !rf.hasDefault {
                    out.append(RelativeIncompatibility(
                        type: .readerFieldMissingDefaultValue, segments: base,
                        message: "reader field \(Self.q(rf.name)) of record \(Self.q(rr.name.fullName)) has no default and is missing from the writer",
                        detail: rf.name, fieldName: rf.name))
                }
                continue
            }
            out += compare(rf.type, wf.type, field: here, fieldName: rf.name).map { $0.prefixed(base + ["type"]) }
        }
        return out
    }
}
