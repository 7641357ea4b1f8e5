import Foundation

/// A typed error raised while parsing an Avro schema. `message` says where the problem is.
public struct AvroSchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Category of the problem.
    public enum Kind: String, Sendable, Hashable {
        /// The text is not valid JSON.
        case invalidJSON
        /// A name, namespace, alias or enum symbol does not follow the Avro naming rules.
        case invalidName
        /// A required attribute (type, name, fields, symbols, size, items, values) is absent.
        case missingAttribute
        /// An attribute has the wrong JSON kind or an invalid value.
        case invalidAttribute
        /// Two fields of one record share a name.
        case duplicateField
        /// Two enum symbols are equal.
        case duplicateSymbol
        /// A union contains two branches of the same unnamed kind or the same named type.
        case duplicateUnionBranch
        /// A union directly contains another union.
        case nestedUnion
        /// A default value does not match its type.
        case invalidDefault
        /// A type name is neither primitive nor a known named type.
        case unknownType
        /// A named type is defined more than once (or redefines a referenced type).
        case redefinedName
    }

    /// Category of the problem.
    public let kind: Kind
    /// Human-readable message including the location.
    public let message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// Same as `message`.
    public var description: String { message }
}

extension AvroSchema {
    /// Parses Avro schema JSON text.
    /// - Parameter references: named types defined by other (already registered) schemas, by full name.
    public static func parse(_ text: String, references: [String: AvroType] = [:]) throws(AvroSchemaError) -> AvroSchema {
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch { throw AvroSchemaError(.invalidJSON, error.description) }
        return try parse(json: json, references: references)
    }

    /// Parses Avro schema text whose named-type references are resolved against previously parsed schemas.
    public static func parse(_ text: String, referencedSchemas: [AvroSchema]) throws(AvroSchemaError) -> AvroSchema {
        var refs: [String: AvroType] = [:]
        for s in referencedSchemas { refs.merge(s.namedTypes, uniquingKeysWith: { a, _ in a }) }
        return try parse(text, references: refs)
    }

    /// Parses an already-decoded JSON value as an Avro schema.
    public static func parse(json: JSONValue, references: [String: AvroType] = [:]) throws(AvroSchemaError) -> AvroSchema {
        var parser = AvroSchemaParser(references: references)
        let root = try parser.parseType(json, namespace: "", at: "schema")
        try parser.checkPendingDefaults()
        return AvroSchema(root: root, namedTypes: parser.definitions, definedNames: parser.definedOrder, json: json)
    }
}

/// Validation helpers for Avro names.
enum AvroNames {
    static func isValidSimpleName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first else { return false }
        func isLetter(_ c: Unicode.Scalar) -> Bool { (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || c == "_" }
        guard isLetter(first) else { return false }
        return s.unicodeScalars.dropFirst().allSatisfy { isLetter($0) || ($0 >= "0" && $0 <= "9") }
    }

    static func isValidFullName(_ s: String) -> Bool {
        s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isValidSimpleName(String($0)) }
    }
}

/// Stateful single-use parser for one schema document.
struct AvroSchemaParser {
    private(set) var definitions: [String: AvroType]
    private(set) var definedOrder: [String] = []
    private var declared: Set<String>
    private var pendingDefaults: [(where: String, type: AvroType, value: JSONValue)] = []

    init(references: [String: AvroType]) {
        self.definitions = references
        self.declared = Set(references.keys)
    }

    private func quoted(_ s: String) -> String {
        var out = ""
        JSONValue.writeString(s, to: &out)
        return out
    }

    mutating func parseType(_ json: JSONValue, namespace: String, at location: String) throws(AvroSchemaError) -> AvroType {
        switch json {
        case .string(let s):
            if let p = AvroPrimitive(rawValue: s) { return .primitive(p) }
            return try lookup(s, namespace: namespace, at: location)
        case .array(let branches):
            return try parseUnion(branches, namespace: namespace, at: location)
        case .object(let obj):
            guard let typeValue = obj["type"] else {
                throw AvroSchemaError(.missingAttribute, "\(location): type object has no \"type\" attribute")
            }
            switch typeValue {
            case .string(let t):
                if let p = AvroPrimitive(rawValue: t) {
                    return .primitive(p, logicalType: logicalType(obj, primitive: p))
                }
                switch t {
                case "record", "error": return try parseRecord(obj, isError: t == "error", namespace: namespace, at: location)
                case "enum": return try parseEnum(obj, namespace: namespace, at: location)
                case "fixed": return try parseFixed(obj, namespace: namespace, at: location)
                case "array":
                    guard let items = obj["items"] else {
                        throw AvroSchemaError(.missingAttribute, "\(location): array has no \"items\" attribute")
                    }
                    return .array(try parseType(items, namespace: namespace, at: location))
                case "map":
                    guard let values = obj["values"] else {
                        throw AvroSchemaError(.missingAttribute, "\(location): map has no \"values\" attribute")
                    }
                    return .map(try parseType(values, namespace: namespace, at: location))
                default:
                    return try lookup(t, namespace: namespace, at: location)
                }
            case .object, .array:
                return try parseType(typeValue, namespace: namespace, at: location)
            default:
                throw AvroSchemaError(.invalidAttribute, "\(location): \"type\" must be a string, object or array, found \(typeValue.kindName)")
            }
        default:
            throw AvroSchemaError(.invalidAttribute, "\(location): expected a type name, object or array, found \(json.kindName) \(json.compactString)")
        }
    }

    private func lookup(_ name: String, namespace: String, at location: String) throws(AvroSchemaError) -> AvroType {
        let candidates: [String]
        if name.contains(".") || namespace.isEmpty { candidates = [name] } else { candidates = [namespace + "." + name, name] }
        for c in candidates where declared.contains(c) { return .reference(c) }
        throw AvroSchemaError(.unknownType, "\(location): unknown type \(quoted(name))")
    }

    private mutating func parseUnion(_ branches: [JSONValue], namespace: String, at location: String) throws(AvroSchemaError) -> AvroType {
        var out: [AvroType] = []
        var seen: Set<String> = []
        for (i, b) in branches.enumerated() {
            let t = try parseType(b, namespace: namespace, at: "\(location), union branch \(i)")
            let key: String
            switch t {
            case .union:
                throw AvroSchemaError(.nestedUnion, "\(location): union branch \(i) is itself a union; unions may not immediately contain unions")
            case .primitive(let p, _): key = p.rawValue
            case .array: key = "array"
            case .map: key = "map"
            default: key = t.namedTypeFullName ?? "?"
            }
            if seen.contains(key) {
                throw AvroSchemaError(.duplicateUnionBranch, "\(location): union contains duplicate branch \(quoted(key))")
            }
            seen.insert(key)
            out.append(t)
        }
        return .union(out)
    }

    private func stringArray(_ obj: JSONObject, _ key: String, at location: String) throws(AvroSchemaError) -> [String]? {
        guard let v = obj[key] else { return nil }
        guard case .array(let items) = v else {
            throw AvroSchemaError(.invalidAttribute, "\(location): \"\(key)\" must be an array of strings")
        }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else {
                throw AvroSchemaError(.invalidAttribute, "\(location): \"\(key)\" must be an array of strings, found \(item.compactString)")
            }
            out.append(s)
        }
        return out
    }

    private func optionalString(_ obj: JSONObject, _ key: String, at location: String) throws(AvroSchemaError) -> String? {
        guard let v = obj[key], !v.isNull else { return nil }
        guard case .string(let s) = v else {
            throw AvroSchemaError(.invalidAttribute, "\(location): \"\(key)\" must be a string, found \(v.kindName)")
        }
        return s
    }

    /// Resolves `name`/`namespace` of a named type definition per the specification and reserves the full name.
    private mutating func declareName(_ obj: JSONObject, kind: String, namespace: String, at location: String) throws(AvroSchemaError) -> AvroName {
        guard let nameValue = obj["name"] else {
            throw AvroSchemaError(.missingAttribute, "\(location): \(kind) has no \"name\" attribute")
        }
        guard case .string(let raw) = nameValue else {
            throw AvroSchemaError(.invalidAttribute, "\(location): \(kind) \"name\" must be a string")
        }
        let name: AvroName
        if let dot = raw.lastIndex(of: ".") {
            guard AvroNames.isValidFullName(raw) else {
                throw AvroSchemaError(.invalidName, "\(location): invalid \(kind) name \(quoted(raw))")
            }
            name = AvroName(name: String(raw[raw.index(after: dot)...]), namespace: String(raw[..<dot]))
        } else {
            guard AvroNames.isValidSimpleName(raw) else {
                throw AvroSchemaError(.invalidName, "\(location): invalid \(kind) name \(quoted(raw))")
            }
            var ns = namespace
            if let nsValue = obj["namespace"], !nsValue.isNull {
                guard case .string(let s) = nsValue else {
                    throw AvroSchemaError(.invalidAttribute, "\(location): \(kind) \(quoted(raw)) \"namespace\" must be a string")
                }
                guard s.isEmpty || AvroNames.isValidFullName(s) else {
                    throw AvroSchemaError(.invalidName, "\(location): invalid namespace \(quoted(s)) for \(kind) \(quoted(raw))")
                }
                ns = s
            }
            name = AvroName(name: raw, namespace: ns)
        }
        if AvroPrimitive(rawValue: name.name) != nil {
            throw AvroSchemaError(.invalidName, "\(location): \(kind) may not be named after the primitive type \(quoted(name.name))")
        }
        if declared.contains(name.fullName) {
            throw AvroSchemaError(.redefinedName, "\(location): \(kind) \(quoted(name.fullName)) is already defined")
        }
        declared.insert(name.fullName)
        return name
    }

    private func aliases(_ obj: JSONObject, of name: AvroName, kind: String, at location: String) throws(AvroSchemaError) -> [String] {
        guard let raw = try stringArray(obj, "aliases", at: "\(location): \(kind) \(quoted(name.fullName))") else { return [] }
        var out: [String] = []
        for a in raw {
            guard AvroNames.isValidFullName(a) else {
                throw AvroSchemaError(.invalidName, "\(location): \(kind) \(quoted(name.fullName)) has invalid alias \(quoted(a))")
            }
            out.append(a.contains(".") || name.namespace.isEmpty ? a : name.namespace + "." + a)
        }
        return out
    }

    private mutating func define(_ name: AvroName, _ type: AvroType) {
        definitions[name.fullName] = type
        definedOrder.append(name.fullName)
    }

    private mutating func parseRecord(_ obj: JSONObject, isError: Bool, namespace: String, at location: String) throws(AvroSchemaError) -> AvroType {
        let kind = isError ? "error" : "record"
        let name = try declareName(obj, kind: kind, namespace: namespace, at: location)
        let here = "\(kind) \(quoted(name.fullName))"
        let recordAliases = try aliases(obj, of: name, kind: kind, at: location)
        let doc = try optionalString(obj, "doc", at: here)
        guard let fieldsValue = obj["fields"] else {
            throw AvroSchemaError(.missingAttribute, "\(here): has no \"fields\" attribute")
        }
        guard case .array(let fieldValues) = fieldsValue else {
            throw AvroSchemaError(.invalidAttribute, "\(here): \"fields\" must be an array")
        }
        var fields: [AvroField] = []
        var seen: Set<String> = []
        for (i, fv) in fieldValues.enumerated() {
            guard case .object(let f) = fv else {
                throw AvroSchemaError(.invalidAttribute, "\(here): field \(i) must be an object")
            }
            guard let fnameValue = f["name"] else {
                throw AvroSchemaError(.missingAttribute, "\(here): field \(i) has no \"name\" attribute")
            }
            guard case .string(let fname) = fnameValue, AvroNames.isValidSimpleName(fname) else {
                throw AvroSchemaError(.invalidName, "\(here): field \(i) has invalid name \(fnameValue.compactString)")
            }
            let fieldWhere = "field \(quoted(fname)) of \(here)"
            guard !seen.contains(fname) else {
                throw AvroSchemaError(.duplicateField, "\(here): duplicate field \(quoted(fname))")
            }
            seen.insert(fname)
            guard let ftypeValue = f["type"] else {
                throw AvroSchemaError(.missingAttribute, "\(fieldWhere): has no \"type\" attribute")
            }
            let ftype = try parseType(ftypeValue, namespace: name.namespace, at: fieldWhere)
            var order = AvroFieldOrder.ascending
            if let o = f["order"] {
                guard case .string(let os) = o, let parsed = AvroFieldOrder(rawValue: os) else {
                    throw AvroSchemaError(.invalidAttribute, "\(fieldWhere): \"order\" must be \"ascending\", \"descending\" or \"ignore\", found \(o.compactString)")
                }
                order = parsed
            }
            let faliases = try stringArray(f, "aliases", at: fieldWhere) ?? []
            for a in faliases where !AvroNames.isValidSimpleName(a) {
                throw AvroSchemaError(.invalidName, "\(fieldWhere): invalid alias \(quoted(a))")
            }
            let fdoc = try optionalString(f, "doc", at: fieldWhere)
            let def = f["default"]
            if let def { pendingDefaults.append((where: fieldWhere, type: ftype, value: def)) }
            fields.append(AvroField(name: fname, type: ftype, doc: fdoc, defaultValue: def, order: order, aliases: faliases, position: i))
        }
        let record = AvroType.record(AvroRecord(name: name, aliases: recordAliases, doc: doc, fields: fields, isError: isError))
        define(name, record)
        return record
    }

    private mutating func parseEnum(_ obj: JSONObject, namespace: String, at location: String) throws(AvroSchemaError) -> AvroType {
        let name = try declareName(obj, kind: "enum", namespace: namespace, at: location)
        let here = "enum \(quoted(name.fullName))"
        let enumAliases = try aliases(obj, of: name, kind: "enum", at: location)
        let doc = try optionalString(obj, "doc", at: here)
        guard obj["symbols"] != nil else {
            throw AvroSchemaError(.missingAttribute, "\(here): has no \"symbols\" attribute")
        }
        let symbols = try stringArray(obj, "symbols", at: here) ?? []
        var seen: Set<String> = []
        for s in symbols {
            guard AvroNames.isValidSimpleName(s) else {
                throw AvroSchemaError(.invalidName, "\(here): invalid symbol \(quoted(s))")
            }
            guard !seen.contains(s) else {
                throw AvroSchemaError(.duplicateSymbol, "\(here): duplicate symbol \(quoted(s))")
            }
            seen.insert(s)
        }
        var defaultSymbol: String?
        if let d = obj["default"] {
            guard case .string(let ds) = d, seen.contains(ds) else {
                throw AvroSchemaError(.invalidDefault, "\(here): default \(d.compactString) is not one of the symbols")
            }
            defaultSymbol = ds
        }
        let e = AvroType.enumeration(AvroEnum(name: name, aliases: enumAliases, doc: doc, symbols: symbols, defaultSymbol: defaultSymbol))
        define(name, e)
        return e
    }

    private mutating func parseFixed(_ obj: JSONObject, namespace: String, at location: String) throws(AvroSchemaError) -> AvroType {
        let name = try declareName(obj, kind: "fixed", namespace: namespace, at: location)
        let here = "fixed \(quoted(name.fullName))"
        let fixedAliases = try aliases(obj, of: name, kind: "fixed", at: location)
        let doc = try optionalString(obj, "doc", at: here)
        guard let sizeValue = obj["size"] else {
            throw AvroSchemaError(.missingAttribute, "\(here): has no \"size\" attribute")
        }
        guard case .number(let n) = sizeValue, n.isIntegerLiteral, let size = n.int64Value, size >= 0, size <= Int64(Int32.max) else {
            throw AvroSchemaError(.invalidAttribute, "\(here): \"size\" must be a non-negative integer, found \(sizeValue.compactString)")
        }
        let lt = logicalType(obj, fixedSize: Int(size))
        let f = AvroType.fixed(AvroFixed(name: name, aliases: fixedAliases, doc: doc, size: Int(size), logicalType: lt))
        define(name, f)
        return f
    }

    private func intAttribute(_ obj: JSONObject, _ key: String) -> Int?? {
        guard let v = obj[key] else { return .some(nil) }
        guard case .number(let n) = v, n.isIntegerLiteral, let i = n.int64Value, i >= 0, i <= Int64(Int32.max) else { return nil }
        return .some(Int(i))
    }

    /// Reads a decimal annotation; nil when invalid (so the annotation is ignored).
    private func decimal(_ obj: JSONObject, maxPrecision: Int?) -> AvroLogicalType? {
        guard let p = intAttribute(obj, "precision"), let precision = p, precision > 0 else { return nil }
        guard let s = intAttribute(obj, "scale") else { return nil }
        let scale = s ?? 0
        guard scale <= precision else { return nil }
        if let maxPrecision, precision > maxPrecision { return nil }
        return .decimal(precision: precision, scale: scale)
    }

    private func logicalType(_ obj: JSONObject, primitive: AvroPrimitive) -> AvroLogicalType? {
        guard case .string(let name) = obj["logicalType"] ?? .null else { return nil }
        switch (name, primitive) {
        case ("decimal", .bytes): return decimal(obj, maxPrecision: nil)
        case ("uuid", .string): return .uuid
        case ("date", .int): return .date
        case ("time-millis", .int): return .timeMillis
        case ("time-micros", .long): return .timeMicros
        case ("timestamp-millis", .long): return .timestampMillis
        case ("timestamp-micros", .long): return .timestampMicros
        case ("local-timestamp-millis", .long): return .localTimestampMillis
        case ("local-timestamp-micros", .long): return .localTimestampMicros
        default: return nil
        }
    }

    private func logicalType(_ obj: JSONObject, fixedSize: Int) -> AvroLogicalType? {
        guard case .string(let name) = obj["logicalType"] ?? .null else { return nil }
        switch name {
        case "decimal":
            // Largest precision representable in `size` two's-complement bytes: floor(log10(2^(8*size-1) - 1)).
            let maxPrecision = fixedSize == 0 ? 0 : Int((Double(8 * fixedSize - 1) * log10(2.0)).rounded(.down))
            return decimal(obj, maxPrecision: maxPrecision)
        case "duration": return fixedSize == 12 ? .duration : nil
        case "uuid": return fixedSize == 16 ? .uuid : nil
        default: return nil
        }
    }

    // MARK: Defaults

    mutating func checkPendingDefaults() throws(AvroSchemaError) {
        for p in pendingDefaults {
            if let problem = defaultProblem(p.type, p.value) {
                throw AvroSchemaError(.invalidDefault, "\(p.where): default \(problem)")
            }
        }
    }

    private func resolve(_ t: AvroType) -> AvroType {
        if case .reference(let n) = t, let d = definitions[n] { return d }
        return t
    }

    private func isByteString(_ s: String) -> Bool { s.unicodeScalars.allSatisfy { $0.value <= 255 } }

    /// Returns a description of why `value` is not a valid default for `type`, or nil when it is valid.
    func defaultProblem(_ type: AvroType, _ value: JSONValue) -> String? {
        let v = value.compactString
        switch resolve(type) {
        case .primitive(let p, _):
            switch p {
            case .null: return value.isNull ? nil : "\(v) is not null"
            case .boolean: return value.boolValue != nil ? nil : "\(v) is not a boolean"
            case .int:
                if let n = value.numberValue, n.isIntegerLiteral, let i = n.int64Value, i >= Int64(Int32.min), i <= Int64(Int32.max) { return nil }
                return "\(v) is not an int"
            case .long:
                if let n = value.numberValue, n.isIntegerLiteral, n.int64Value != nil { return nil }
                return "\(v) is not a long"
            case .float: return value.numberValue != nil ? nil : "\(v) is not a float"
            case .double: return value.numberValue != nil ? nil : "\(v) is not a double"
            case .string: return value.stringValue != nil ? nil : "\(v) is not a string"
            case .bytes:
                guard let s = value.stringValue else { return "\(v) is not a bytes string" }
                return isByteString(s) ? nil : "\(v) is not a bytes string (code points must be 0-255)"
            }
        case .record(let r):
            guard case .object(let obj) = value else { return "\(v) is not an object for record \(quoted(r.name.fullName))" }
            for f in r.fields {
                guard let fv = obj[f.name] else {
                    if f.hasDefault { continue }
                    return "\(v) has no value for field \(quoted(f.name)) of record \(quoted(r.name.fullName)), which has no default"
                }
                if let problem = defaultProblem(f.type, fv) { return "\(v) is invalid at field \(quoted(f.name)): \(problem)" }
            }
            return nil
        case .enumeration(let e):
            guard let s = value.stringValue, e.symbols.contains(s) else { return "\(v) is not a symbol of enum \(quoted(e.name.fullName))" }
            return nil
        case .fixed(let f):
            guard let s = value.stringValue, isByteString(s) else { return "\(v) is not a bytes string for fixed \(quoted(f.name.fullName))" }
            let count = s.unicodeScalars.count
            return count == f.size ? nil : "\(v) has \(count) bytes but fixed \(quoted(f.name.fullName)) has size \(f.size)"
        case .array(let items):
            guard case .array(let elements) = value else { return "\(v) is not an array" }
            for (i, e) in elements.enumerated() {
                if let problem = defaultProblem(items, e) { return "\(v) is invalid at element \(i): \(problem)" }
            }
            return nil
        case .map(let values):
            guard case .object(let obj) = value else { return "\(v) is not an object for map" }
            for (k, e) in obj {
                if let problem = defaultProblem(values, e) { return "\(v) is invalid at key \(quoted(k)): \(problem)" }
            }
            return nil
        case .union(let branches):
            guard let first = branches.first else { return "\(v) cannot be a default for an empty union" }
            if let problem = defaultProblem(first, value) {
                return "\(v) does not match the first union branch: \(problem)"
            }
            return nil
        case .reference(let n):
            return "refers to unknown type \(quoted(n))"
        }
    }
}
