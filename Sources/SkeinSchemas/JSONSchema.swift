import Foundation

/// The JSON Schema primitive type names.
public enum JSONSchemaType: String, Sendable, Hashable, CaseIterable {
    /// `null`
    case null
    /// `boolean`
    case boolean
    /// `object`
    case object
    /// `array`
    case array
    /// `number` (includes integers)
    case number
    /// `string`
    case string
    /// `integer`
    case integer
}

/// A JSON Schema: either a boolean schema (`true` accepts everything, `false` nothing) or a keyword object.
public indirect enum JSONSchemaNode: Sendable, Hashable {
    /// Boolean schema.
    case boolean(Bool)
    /// Keyword schema.
    case object(JSONSchemaObject)

    /// The keyword view of the node (`true` is the empty schema; `false` is `{"not": {}}`).
    var keywords: JSONSchemaObject {
        switch self {
        case .object(let o): return o
        case .boolean(true): return JSONSchemaObject()
        case .boolean(false):
            var o = JSONSchemaObject()
            o.not = .object(JSONSchemaObject())
            return o
        }
    }

    /// True for `true`, `{}` or a schema with only annotations (accepts every instance).
    public var acceptsEverything: Bool {
        switch self {
        case .boolean(let b): return b
        case .object(let o): return o.isUnconstrained
        }
    }
}

/// The common JSON Schema keywords (draft-04 through 2020-12) understood by this module.
public struct JSONSchemaObject: Sendable, Hashable {
    /// `type` (nil when absent, meaning any type).
    public var types: [JSONSchemaType]?
    /// `properties`, by name.
    public var properties: [String: JSONSchemaNode] = [:]
    /// Property names in source order.
    public var propertyOrder: [String] = []
    /// `required`.
    public var required: [String] = []
    /// `additionalProperties` (nil when absent, i.e. open).
    public var additionalProperties: JSONSchemaNode?
    /// `patternProperties`, by pattern.
    public var patternProperties: [String: JSONSchemaNode] = [:]
    /// `patternProperties` patterns in source order.
    public var patternOrder: [String] = []
    /// `unevaluatedProperties` (2019-09 and later; nil when absent).
    public var unevaluatedProperties: JSONSchemaNode?
    /// `propertyNames` (parsed and validated; Confluent's diff does not compare it, and neither do we).
    public var propertyNames: JSONSchemaNode?
    /// Positional item schemas: draft-07 tuple `items: [...]` or 2020-12 `prefixItems`.
    public var prefixItems: [JSONSchemaNode] = []
    /// The schema every item must match: the object form of `items` without a tuple (Confluent's "all items
    /// schema"). A boolean `items` without a tuple is kept in `additionalItems` instead (it only allows or
    /// forbids items).
    public var items: JSONSchemaNode?
    /// Schema for items after the positional ones: draft-07 `additionalItems`, 2020-12 `items` beside
    /// `prefixItems`, or a boolean `items` without a tuple.
    public var additionalItems: JSONSchemaNode?
    /// `unevaluatedItems` (2019-09 and later; nil when absent).
    public var unevaluatedItems: JSONSchemaNode?
    /// True when the items were written as a positional (tuple) array.
    public var isTuple = false
    /// Schema for items not covered by `prefixItems`.
    public var restItems: JSONSchemaNode? { isTuple ? additionalItems : (items ?? additionalItems) }
    /// `enum`.
    public var enumValues: [JSONValue]?
    /// `const`.
    public var constValue: JSONValue?
    /// `minimum` (inclusive).
    public var minimum: Double?
    /// `maximum` (inclusive).
    public var maximum: Double?
    /// `exclusiveMinimum` (numeric form; draft-04 boolean form is converted).
    public var exclusiveMinimum: Double?
    /// `exclusiveMaximum` (numeric form; draft-04 boolean form is converted).
    public var exclusiveMaximum: Double?
    /// `multipleOf`.
    public var multipleOf: Double?
    /// `minLength`.
    public var minLength: Int?
    /// `maxLength`.
    public var maxLength: Int?
    /// `pattern`.
    public var pattern: String?
    /// `minItems`.
    public var minItems: Int?
    /// `maxItems`.
    public var maxItems: Int?
    /// `uniqueItems`.
    public var uniqueItems = false
    /// `minProperties`.
    public var minProperties: Int?
    /// `maxProperties`.
    public var maxProperties: Int?
    /// `$ref` (local JSON pointer, e.g. `#/definitions/Address`).
    public var ref: String?
    /// `allOf`.
    public var allOf: [JSONSchemaNode]?
    /// `anyOf`.
    public var anyOf: [JSONSchemaNode]?
    /// `oneOf`.
    public var oneOf: [JSONSchemaNode]?
    /// `not`.
    public var not: JSONSchemaNode?
    /// `default`.
    public var defaultValue: JSONValue?
    /// `title`.
    public var title: String?
    /// `description`.
    public var description: String?

    /// Creates an empty (unconstrained) schema.
    public init() {}

    /// True when no validation keyword is present.
    public var isUnconstrained: Bool {
        var copy = self
        copy.defaultValue = nil
        copy.title = nil
        copy.description = nil
        copy.propertyOrder = []
        copy.patternOrder = []
        return copy == JSONSchemaObject()
    }
}

/// A typed JSON Schema parse error with the JSON-pointer path of the offending keyword.
public struct JSONSchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Category of the problem.
    public enum Kind: String, Sendable, Hashable {
        /// The text is not valid JSON.
        case invalidJSON
        /// A schema is neither an object nor a boolean.
        case invalidSchema
        /// A keyword has a value of the wrong kind or range.
        case invalidKeyword
        /// A `$ref` points to nothing in the document.
        case unresolvableReference
        /// A `$ref` is not a local (`#...`) reference, or references form a cycle with no schema.
        case unsupportedReference
    }

    /// Category.
    public let kind: Kind
    /// Location, e.g. `#/properties/age/maxLength`.
    public let path: String
    /// Explanation.
    public let message: String

    /// `path: message`.
    public var description: String { "\(path): \(message)" }
}

/// A parsed JSON Schema document with its resolved local references.
public struct JSONSchema: Sendable, Hashable {
    /// The root schema.
    public let root: JSONSchemaNode
    /// The parsed source JSON.
    public let json: JSONValue
    /// Every `$ref` used in the document, resolved to its target schema.
    public let refTargets: [String: JSONSchemaNode]

    /// Parses JSON Schema text.
    public static func parse(_ text: String) throws(JSONSchemaError) -> JSONSchema {
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch { throw JSONSchemaError(kind: .invalidJSON, path: "#", message: error.description) }
        return try parse(json: json)
    }

    /// Parses an already-decoded JSON value as a JSON Schema.
    public static func parse(json: JSONValue) throws(JSONSchemaError) -> JSONSchema {
        var parser = JSONSchemaParser(document: json)
        let root = try parser.parseNode(json, path: [])
        let targets = try parser.resolveReferences()
        return JSONSchema(root: root, json: json, refTargets: targets)
    }

    /// Compact JSON with keys sorted at every level (the registry's canonical string for JSON schemas).
    public var canonicalString: String { json.sortedCompactString }

    /// Follows `$ref` chains from `node` (draft-07 semantics: sibling keywords of `$ref` are ignored).
    public func dereference(_ node: JSONSchemaNode) -> JSONSchemaNode {
        var current = node
        var hops = 0
        while case .object(let o) = current, let r = o.ref, let target = refTargets[r], hops < 64 {
            current = target
            hops += 1
        }
        return current
    }
}

/// Builds `JSONSchemaNode`s from JSON and collects references.
struct JSONSchemaParser {
    let document: JSONValue
    private var pendingRefs: [(ref: String, path: [String])] = []

    init(document: JSONValue) { self.document = document }

    static func pointer(_ path: [String]) -> String {
        "#" + path.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }.joined()
    }

    private func fail(_ kind: JSONSchemaError.Kind, _ path: [String], _ message: String) -> JSONSchemaError {
        JSONSchemaError(kind: kind, path: Self.pointer(path), message: message)
    }

    mutating func parseNode(_ value: JSONValue, path: [String]) throws(JSONSchemaError) -> JSONSchemaNode {
        switch value {
        case .bool(let b): return .boolean(b)
        case .object(let obj): return .object(try parseObject(obj, path: path))
        default: throw fail(.invalidSchema, path, "a schema must be an object or a boolean, found \(value.kindName)")
        }
    }

    private func number(_ obj: JSONObject, _ key: String, _ path: [String]) throws(JSONSchemaError) -> Double? {
        guard let v = obj[key] else { return nil }
        guard case .number(let n) = v, n.doubleValue.isFinite else { throw fail(.invalidKeyword, path + [key], "\"\(key)\" must be a number") }
        return n.doubleValue
    }

    private func count(_ obj: JSONObject, _ key: String, _ path: [String]) throws(JSONSchemaError) -> Int? {
        guard let v = obj[key] else { return nil }
        guard case .number(let n) = v, n.doubleValue >= 0, n.doubleValue == n.doubleValue.rounded(), n.doubleValue < 9.0e15 else {
            throw fail(.invalidKeyword, path + [key], "\"\(key)\" must be a non-negative integer")
        }
        return Int(n.doubleValue)
    }

    private mutating func schemaArray(_ obj: JSONObject, _ key: String, _ path: [String]) throws(JSONSchemaError) -> [JSONSchemaNode]? {
        guard let v = obj[key] else { return nil }
        guard case .array(let items) = v, !items.isEmpty else { throw fail(.invalidKeyword, path + [key], "\"\(key)\" must be a non-empty array of schemas") }
        var out: [JSONSchemaNode] = []
        for (i, item) in items.enumerated() { out.append(try parseNode(item, path: path + [key, String(i)])) }
        return out
    }

    private mutating func schemaMap(_ obj: JSONObject, _ key: String, _ path: [String]) throws(JSONSchemaError) -> [(String, JSONSchemaNode)] {
        guard let v = obj[key] else { return [] }
        guard case .object(let members) = v else { throw fail(.invalidKeyword, path + [key], "\"\(key)\" must be an object of schemas") }
        var out: [(String, JSONSchemaNode)] = []
        for (k, s) in members { out.append((k, try parseNode(s, path: path + [key, k]))) }
        return out
    }

    private mutating func parseObject(_ obj: JSONObject, path: [String]) throws(JSONSchemaError) -> JSONSchemaObject {
        var s = JSONSchemaObject()
        if let t = obj["type"] {
            var names: [String] = []
            switch t {
            case .string(let n): names = [n]
            case .array(let items):
                for item in items {
                    guard case .string(let n) = item else { throw fail(.invalidKeyword, path + ["type"], "\"type\" array must contain strings") }
                    names.append(n)
                }
            default: throw fail(.invalidKeyword, path + ["type"], "\"type\" must be a string or an array of strings")
            }
            var types: [JSONSchemaType] = []
            for n in names {
                guard let jt = JSONSchemaType(rawValue: n) else { throw fail(.invalidKeyword, path + ["type"], "unknown type \"\(n)\"") }
                if !types.contains(jt) { types.append(jt) }
            }
            s.types = types
        }
        for (k, node) in try schemaMap(obj, "properties", path) {
            s.properties[k] = node
            s.propertyOrder.append(k)
        }
        if let r = obj["required"] {
            guard case .array(let items) = r else { throw fail(.invalidKeyword, path + ["required"], "\"required\" must be an array of strings") }
            for item in items {
                guard case .string(let n) = item else { throw fail(.invalidKeyword, path + ["required"], "\"required\" must be an array of strings") }
                if !s.required.contains(n) { s.required.append(n) }
            }
        }
        if let ap = obj["additionalProperties"] { s.additionalProperties = try parseNode(ap, path: path + ["additionalProperties"]) }
        for (k, node) in try schemaMap(obj, "patternProperties", path) {
            s.patternProperties[k] = node
            s.patternOrder.append(k)
        }
        if let u = obj["unevaluatedProperties"] { s.unevaluatedProperties = try parseNode(u, path: path + ["unevaluatedProperties"]) }
        if let n = obj["propertyNames"] { s.propertyNames = try parseNode(n, path: path + ["propertyNames"]) }
        if let prefix = obj["prefixItems"] {
            guard case .array(let items) = prefix else { throw fail(.invalidKeyword, path + ["prefixItems"], "\"prefixItems\" must be an array of schemas") }
            for (i, item) in items.enumerated() { s.prefixItems.append(try parseNode(item, path: path + ["prefixItems", String(i)])) }
            s.isTuple = true
            if let rest = obj["items"] { s.additionalItems = try parseNode(rest, path: path + ["items"]) }
        } else {
            if let items = obj["items"] {
                if case .array(let tuple) = items {
                    for (i, item) in tuple.enumerated() { s.prefixItems.append(try parseNode(item, path: path + ["items", String(i)])) }
                    s.isTuple = true
                } else if case .bool = items {
                    s.additionalItems = try parseNode(items, path: path + ["items"])
                } else {
                    s.items = try parseNode(items, path: path + ["items"])
                }
            }
            if s.additionalItems == nil, let rest = obj["additionalItems"] { s.additionalItems = try parseNode(rest, path: path + ["additionalItems"]) }
        }
        if let u = obj["unevaluatedItems"] { s.unevaluatedItems = try parseNode(u, path: path + ["unevaluatedItems"]) }
        if let e = obj["enum"] {
            guard case .array(let values) = e else { throw fail(.invalidKeyword, path + ["enum"], "\"enum\" must be an array") }
            s.enumValues = values
        }
        s.constValue = obj["const"]
        s.minimum = try number(obj, "minimum", path)
        s.maximum = try number(obj, "maximum", path)
        // Draft-04 boolean exclusive bounds modify minimum/maximum; later drafts use numbers.
        if let em = obj["exclusiveMinimum"] {
            if case .bool(let b) = em { if b, let m = s.minimum { s.exclusiveMinimum = m; s.minimum = nil } } else { s.exclusiveMinimum = try number(obj, "exclusiveMinimum", path) }
        }
        if let em = obj["exclusiveMaximum"] {
            if case .bool(let b) = em { if b, let m = s.maximum { s.exclusiveMaximum = m; s.maximum = nil } } else { s.exclusiveMaximum = try number(obj, "exclusiveMaximum", path) }
        }
        s.multipleOf = try number(obj, "multipleOf", path)
        if let m = s.multipleOf, m <= 0 { throw fail(.invalidKeyword, path + ["multipleOf"], "\"multipleOf\" must be greater than 0") }
        s.minLength = try count(obj, "minLength", path)
        s.maxLength = try count(obj, "maxLength", path)
        s.minItems = try count(obj, "minItems", path)
        s.maxItems = try count(obj, "maxItems", path)
        s.minProperties = try count(obj, "minProperties", path)
        s.maxProperties = try count(obj, "maxProperties", path)
        if let p = obj["pattern"] {
            guard case .string(let ps) = p else { throw fail(.invalidKeyword, path + ["pattern"], "\"pattern\" must be a string") }
            s.pattern = ps
        }
        if let u = obj["uniqueItems"] {
            guard case .bool(let b) = u else { throw fail(.invalidKeyword, path + ["uniqueItems"], "\"uniqueItems\" must be a boolean") }
            s.uniqueItems = b
        }
        s.allOf = try schemaArray(obj, "allOf", path)
        s.anyOf = try schemaArray(obj, "anyOf", path)
        s.oneOf = try schemaArray(obj, "oneOf", path)
        if let n = obj["not"] { s.not = try parseNode(n, path: path + ["not"]) }
        s.defaultValue = obj["default"]
        s.title = obj["title"]?.stringValue
        s.description = obj["description"]?.stringValue
        // Definitions are parsed for validation only; they are reached through `$ref`.
        _ = try schemaMap(obj, "definitions", path)
        _ = try schemaMap(obj, "$defs", path)
        if let r = obj["$ref"] {
            guard case .string(let rs) = r else { throw fail(.invalidKeyword, path + ["$ref"], "\"$ref\" must be a string") }
            guard rs.hasPrefix("#") else { throw fail(.unsupportedReference, path + ["$ref"], "only local references (\"#...\") are supported, found \"\(rs)\"") }
            s.ref = rs
            pendingRefs.append((ref: rs, path: path + ["$ref"]))
        }
        return s
    }

    /// Resolves a local JSON pointer reference against the document.
    private func target(of ref: String) -> JSONValue? {
        var fragment = String(ref.dropFirst())
        fragment = fragment.removingPercentEncoding ?? fragment
        if fragment.isEmpty { return document }
        guard fragment.hasPrefix("/") else { return nil }
        var current = document
        for raw in fragment.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let token = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch current {
            case .object(let o):
                guard let next = o[token] else { return nil }
                current = next
            case .array(let a):
                guard let i = Int(token), i >= 0, i < a.count else { return nil }
                current = a[i]
            default:
                return nil
            }
        }
        return current
    }

    /// Parses every referenced target (transitively) and rejects reference cycles that never reach a schema.
    mutating func resolveReferences() throws(JSONSchemaError) -> [String: JSONSchemaNode] {
        var targets: [String: JSONSchemaNode] = [:]
        while let (ref, path) = pendingRefs.popLast() {
            if targets[ref] != nil { continue }
            guard let value = target(of: ref) else { throw fail(.unresolvableReference, path, "cannot resolve \"\(ref)\"") }
            let targetPath = String(ref.dropFirst().dropFirst()).split(separator: "/", omittingEmptySubsequences: false).map {
                $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            }
            targets[ref] = try parseNode(value, path: ref.count <= 1 ? [] : targetPath)
        }
        for start in targets.keys.sorted() {
            var seen: Set<String> = [start]
            var current = start
            while case .object(let o)? = targets[current], let next = o.ref {
                if seen.contains(next) { throw fail(.unsupportedReference, [], "reference cycle through \"\(start)\" never reaches a schema") }
                seen.insert(next)
                current = next
            }
        }
        return targets
    }
}
