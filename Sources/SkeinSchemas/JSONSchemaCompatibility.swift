import Foundation

/// Kinds of change between two JSON schemas, named after Confluent's `Difference.Type`.
/// Each change is either compatible (a reader using the updated schema accepts all data valid under the
/// original schema) or incompatible.
public enum JSONSchemaDifferenceType: String, Sendable, Hashable, CaseIterable {
    /// Change kinds: `TYPE_EXTENDED`, `TYPE_NARROWED`, `TYPE_CHANGED`.
    case typeExtended = "TYPE_EXTENDED", typeNarrowed = "TYPE_NARROWED", typeChanged = "TYPE_CHANGED"
    /// Change kinds: `MAX_LENGTH_ADDED`, `MAX_LENGTH_REMOVED`.
    case maxLengthAdded = "MAX_LENGTH_ADDED", maxLengthRemoved = "MAX_LENGTH_REMOVED"
    /// Change kinds: `MAX_LENGTH_INCREASED`, `MAX_LENGTH_DECREASED`.
    case maxLengthIncreased = "MAX_LENGTH_INCREASED", maxLengthDecreased = "MAX_LENGTH_DECREASED"
    /// Change kinds: `MIN_LENGTH_ADDED`, `MIN_LENGTH_REMOVED`.
    case minLengthAdded = "MIN_LENGTH_ADDED", minLengthRemoved = "MIN_LENGTH_REMOVED"
    /// Change kinds: `MIN_LENGTH_INCREASED`, `MIN_LENGTH_DECREASED`.
    case minLengthIncreased = "MIN_LENGTH_INCREASED", minLengthDecreased = "MIN_LENGTH_DECREASED"
    /// Change kinds: `PATTERN_ADDED`, `PATTERN_REMOVED`, `PATTERN_CHANGED`.
    case patternAdded = "PATTERN_ADDED", patternRemoved = "PATTERN_REMOVED", patternChanged = "PATTERN_CHANGED"
    /// Change kinds: `MAXIMUM_ADDED`, `MAXIMUM_REMOVED`.
    case maximumAdded = "MAXIMUM_ADDED", maximumRemoved = "MAXIMUM_REMOVED"
    /// Change kinds: `MAXIMUM_INCREASED`, `MAXIMUM_DECREASED`.
    case maximumIncreased = "MAXIMUM_INCREASED", maximumDecreased = "MAXIMUM_DECREASED"
    /// Change kinds: `MINIMUM_ADDED`, `MINIMUM_REMOVED`.
    case minimumAdded = "MINIMUM_ADDED", minimumRemoved = "MINIMUM_REMOVED"
    /// Change kinds: `MINIMUM_INCREASED`, `MINIMUM_DECREASED`.
    case minimumIncreased = "MINIMUM_INCREASED", minimumDecreased = "MINIMUM_DECREASED"
    /// Change kinds: `EXCLUSIVE_MAXIMUM_ADDED`, `EXCLUSIVE_MAXIMUM_REMOVED`.
    case exclusiveMaximumAdded = "EXCLUSIVE_MAXIMUM_ADDED", exclusiveMaximumRemoved = "EXCLUSIVE_MAXIMUM_REMOVED"
    /// Change kinds: `EXCLUSIVE_MAXIMUM_INCREASED`, `EXCLUSIVE_MAXIMUM_DECREASED`.
    case exclusiveMaximumIncreased = "EXCLUSIVE_MAXIMUM_INCREASED", exclusiveMaximumDecreased = "EXCLUSIVE_MAXIMUM_DECREASED"
    /// Change kinds: `EXCLUSIVE_MINIMUM_ADDED`, `EXCLUSIVE_MINIMUM_REMOVED`.
    case exclusiveMinimumAdded = "EXCLUSIVE_MINIMUM_ADDED", exclusiveMinimumRemoved = "EXCLUSIVE_MINIMUM_REMOVED"
    /// Change kinds: `EXCLUSIVE_MINIMUM_INCREASED`, `EXCLUSIVE_MINIMUM_DECREASED`.
    case exclusiveMinimumIncreased = "EXCLUSIVE_MINIMUM_INCREASED", exclusiveMinimumDecreased = "EXCLUSIVE_MINIMUM_DECREASED"
    /// Change kinds: `MULTIPLE_OF_ADDED`, `MULTIPLE_OF_REMOVED`.
    case multipleOfAdded = "MULTIPLE_OF_ADDED", multipleOfRemoved = "MULTIPLE_OF_REMOVED"
    /// Change kinds: `MULTIPLE_OF_EXPANDED`, `MULTIPLE_OF_REDUCED`, `MULTIPLE_OF_CHANGED`.
    case multipleOfExpanded = "MULTIPLE_OF_EXPANDED", multipleOfReduced = "MULTIPLE_OF_REDUCED", multipleOfChanged = "MULTIPLE_OF_CHANGED"
    /// Change kinds: `REQUIRED_ATTRIBUTE_ADDED`, `REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED`.
    case requiredAttributeAdded = "REQUIRED_ATTRIBUTE_ADDED", requiredAttributeWithDefaultAdded = "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"
    /// Change kinds: `REQUIRED_ATTRIBUTE_REMOVED`.
    case requiredAttributeRemoved = "REQUIRED_ATTRIBUTE_REMOVED"
    /// Change kinds: `MAX_PROPERTIES_ADDED`, `MAX_PROPERTIES_REMOVED`.
    case maxPropertiesAdded = "MAX_PROPERTIES_ADDED", maxPropertiesRemoved = "MAX_PROPERTIES_REMOVED"
    /// Change kinds: `MAX_PROPERTIES_INCREASED`, `MAX_PROPERTIES_DECREASED`.
    case maxPropertiesIncreased = "MAX_PROPERTIES_INCREASED", maxPropertiesDecreased = "MAX_PROPERTIES_DECREASED"
    /// Change kinds: `MIN_PROPERTIES_ADDED`, `MIN_PROPERTIES_REMOVED`.
    case minPropertiesAdded = "MIN_PROPERTIES_ADDED", minPropertiesRemoved = "MIN_PROPERTIES_REMOVED"
    /// Change kinds: `MIN_PROPERTIES_INCREASED`, `MIN_PROPERTIES_DECREASED`.
    case minPropertiesIncreased = "MIN_PROPERTIES_INCREASED", minPropertiesDecreased = "MIN_PROPERTIES_DECREASED"
    /// Change kinds: `ADDITIONAL_PROPERTIES_ADDED`, `ADDITIONAL_PROPERTIES_REMOVED`.
    case additionalPropertiesAdded = "ADDITIONAL_PROPERTIES_ADDED", additionalPropertiesRemoved = "ADDITIONAL_PROPERTIES_REMOVED"
    /// Change kinds: `ADDITIONAL_PROPERTIES_EXTENDED`, `ADDITIONAL_PROPERTIES_NARROWED`.
    case additionalPropertiesExtended = "ADDITIONAL_PROPERTIES_EXTENDED", additionalPropertiesNarrowed = "ADDITIONAL_PROPERTIES_NARROWED"
    /// Change kinds: `PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`.
    case propertyAddedToOpenContentModel = "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
    /// Change kinds: `PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL`.
    case propertyWithEmptySchemaAddedToOpenContentModel = "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
    /// Change kinds: `REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL`.
    case requiredPropertyAddedToUnopenContentModel = "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
    /// Change kinds: `REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL`.
    case requiredPropertyWithDefaultAddedToUnopenContentModel = "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"
    /// Change kinds: `OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL`.
    case optionalPropertyAddedToUnopenContentModel = "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
    /// Change kinds: `PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL`.
    case propertyRemovedFromOpenContentModel = "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL"
    /// Change kinds: `PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL`.
    case propertyRemovedFromClosedContentModel = "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"
    /// Change kinds: `PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`.
    case propertyAddedIsCoveredByPartiallyOpenContentModel = "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    /// Change kinds: `PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`.
    case propertyAddedNotCoveredByPartiallyOpenContentModel = "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    /// Change kinds: `PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`.
    case propertyRemovedIsCoveredByPartiallyOpenContentModel = "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    /// Change kinds: `PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`.
    case propertyRemovedNotCoveredByPartiallyOpenContentModel = "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    /// Change kinds: `MAX_ITEMS_ADDED`, `MAX_ITEMS_REMOVED`.
    case maxItemsAdded = "MAX_ITEMS_ADDED", maxItemsRemoved = "MAX_ITEMS_REMOVED"
    /// Change kinds: `MAX_ITEMS_INCREASED`, `MAX_ITEMS_DECREASED`.
    case maxItemsIncreased = "MAX_ITEMS_INCREASED", maxItemsDecreased = "MAX_ITEMS_DECREASED"
    /// Change kinds: `MIN_ITEMS_ADDED`, `MIN_ITEMS_REMOVED`.
    case minItemsAdded = "MIN_ITEMS_ADDED", minItemsRemoved = "MIN_ITEMS_REMOVED"
    /// Change kinds: `MIN_ITEMS_INCREASED`, `MIN_ITEMS_DECREASED`.
    case minItemsIncreased = "MIN_ITEMS_INCREASED", minItemsDecreased = "MIN_ITEMS_DECREASED"
    /// Change kinds: `UNIQUE_ITEMS_ADDED`, `UNIQUE_ITEMS_REMOVED`.
    case uniqueItemsAdded = "UNIQUE_ITEMS_ADDED", uniqueItemsRemoved = "UNIQUE_ITEMS_REMOVED"
    /// Change kinds: `ADDITIONAL_ITEMS_ADDED`, `ADDITIONAL_ITEMS_REMOVED`.
    case additionalItemsAdded = "ADDITIONAL_ITEMS_ADDED", additionalItemsRemoved = "ADDITIONAL_ITEMS_REMOVED"
    /// Change kinds: `ADDITIONAL_ITEMS_EXTENDED`, `ADDITIONAL_ITEMS_NARROWED`.
    case additionalItemsExtended = "ADDITIONAL_ITEMS_EXTENDED", additionalItemsNarrowed = "ADDITIONAL_ITEMS_NARROWED"
    /// Change kinds: `ITEM_ADDED_TO_OPEN_CONTENT_MODEL`.
    case itemAddedToOpenContentModel = "ITEM_ADDED_TO_OPEN_CONTENT_MODEL"
    /// Change kinds: `ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL`.
    case itemWithEmptySchemaAddedToOpenContentModel = "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
    /// Change kinds: `ITEM_ADDED_TO_CLOSED_CONTENT_MODEL`.
    case itemAddedToClosedContentModel = "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL"
    /// Change kinds: `ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL`.
    case itemRemovedFromOpenContentModel = "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL"
    /// Change kinds: `ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL`.
    case itemRemovedFromClosedContentModel = "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL"
    /// Change kinds: `ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`.
    case itemAddedIsCoveredByPartiallyOpenContentModel = "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    /// Change kinds: `ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`.
    case itemAddedNotCoveredByPartiallyOpenContentModel = "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    /// Change kinds: `ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`.
    case itemRemovedIsCoveredByPartiallyOpenContentModel = "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    /// Change kinds: `ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`.
    case itemRemovedNotCoveredByPartiallyOpenContentModel = "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    /// Change kinds: `ENUM_ARRAY_EXTENDED`, `ENUM_ARRAY_NARROWED`, `ENUM_ARRAY_CHANGED`.
    case enumArrayExtended = "ENUM_ARRAY_EXTENDED", enumArrayNarrowed = "ENUM_ARRAY_NARROWED", enumArrayChanged = "ENUM_ARRAY_CHANGED"
    /// Change kinds: `COMBINED_TYPE_EXTENDED`, `COMBINED_TYPE_CHANGED`.
    case combinedTypeExtended = "COMBINED_TYPE_EXTENDED", combinedTypeChanged = "COMBINED_TYPE_CHANGED"
    /// Change kinds: `PRODUCT_TYPE_EXTENDED`, `PRODUCT_TYPE_NARROWED`.
    case productTypeExtended = "PRODUCT_TYPE_EXTENDED", productTypeNarrowed = "PRODUCT_TYPE_NARROWED"
    /// Change kinds: `SUM_TYPE_EXTENDED`, `SUM_TYPE_NARROWED`.
    case sumTypeExtended = "SUM_TYPE_EXTENDED", sumTypeNarrowed = "SUM_TYPE_NARROWED"
    /// Change kinds: `COMBINED_TYPE_SUBSCHEMAS_CHANGED`.
    case combinedTypeSubschemasChanged = "COMBINED_TYPE_SUBSCHEMAS_CHANGED"
    /// Change kinds: `NOT_TYPE_EXTENDED`, `NOT_TYPE_NARROWED`, `NOT_TYPE_CHANGED`.
    case notTypeExtended = "NOT_TYPE_EXTENDED", notTypeNarrowed = "NOT_TYPE_NARROWED", notTypeChanged = "NOT_TYPE_CHANGED"

    private static let compatible: Set<JSONSchemaDifferenceType> = [
        .typeExtended, .maxLengthRemoved, .maxLengthIncreased, .minLengthRemoved, .minLengthDecreased, .patternRemoved,
        .maximumRemoved, .maximumIncreased, .minimumRemoved, .minimumDecreased,
        .exclusiveMaximumRemoved, .exclusiveMaximumIncreased, .exclusiveMinimumRemoved, .exclusiveMinimumDecreased,
        .multipleOfRemoved, .multipleOfReduced, .requiredAttributeWithDefaultAdded, .requiredAttributeRemoved,
        .maxPropertiesRemoved, .maxPropertiesIncreased, .minPropertiesRemoved, .minPropertiesDecreased,
        .additionalPropertiesAdded, .additionalPropertiesExtended, .propertyWithEmptySchemaAddedToOpenContentModel,
        .requiredPropertyWithDefaultAddedToUnopenContentModel, .optionalPropertyAddedToUnopenContentModel,
        .propertyRemovedFromOpenContentModel, .propertyAddedIsCoveredByPartiallyOpenContentModel,
        .propertyRemovedIsCoveredByPartiallyOpenContentModel, .maxItemsRemoved, .maxItemsIncreased, .minItemsRemoved,
        .minItemsDecreased, .uniqueItemsRemoved, .additionalItemsAdded, .additionalItemsExtended,
        .itemWithEmptySchemaAddedToOpenContentModel, .itemAddedToClosedContentModel, .itemRemovedFromOpenContentModel,
        .itemAddedIsCoveredByPartiallyOpenContentModel, .itemRemovedIsCoveredByPartiallyOpenContentModel,
        .enumArrayExtended, .combinedTypeExtended, .productTypeNarrowed, .sumTypeExtended, .notTypeNarrowed,
    ]

    /// True when a reader using the updated schema still accepts all data valid under the original schema.
    public var isCompatible: Bool { Self.compatible.contains(self) }
}

/// One change found between an original and an updated JSON schema.
public struct JSONSchemaDifference: Sendable, Hashable, CustomStringConvertible {
    /// Kind of change.
    public let type: JSONSchemaDifferenceType
    /// Location of the changed (sub)schema, e.g. `#/properties/age`.
    public let path: String
    /// Specific detail (values before/after, property name).
    public let detail: String

    /// Whether the change is backward compatible.
    public var isCompatible: Bool { type.isCompatible }
    /// `TYPE at PATH: detail`.
    public var description: String { "\(type.rawValue) at \(path): \(detail)" }

    /// A Confluent-style issue; `updateIsNew` tells whether the updated schema is the new one.
    public func issue(updateIsNew: Bool, previousIndex: Int) -> CompatibilityIssue {
        let u = updateIsNew ? "new" : "old"
        let o = updateIsNew ? "old" : "new"
        return CompatibilityIssue(errorType: type.rawValue, path: path,
                                  description: "A change of type \(type.rawValue) at path '\(path)' in the \(u) schema is incompatible with the \(o) schema: \(detail)",
                                  additionalInfo: nil, previousIndex: previousIndex)
    }
}

/// JSON Schema compatibility in the spirit of Confluent's rules.
public enum JSONSchemaCompatibility {
    /// All changes from `original` to `update` (compatible and incompatible).
    public static func diff(original: JSONSchema, update: JSONSchema) -> [JSONSchemaDifference] {
        var differ = JSONSchemaDiffer(original: original, update: update)
        var seen: Set<JSONSchemaDifference> = []
        return differ.compare(original.root, update.root, depth: 0).compactMap { d in
            let abs = d.absolute
            return seen.insert(abs).inserted ? abs : nil
        }
    }

    /// The incompatible changes that prevent a consumer using `reader` from reading data valid under `writer`.
    public static func check(reader: JSONSchema, writer: JSONSchema) -> [JSONSchemaDifference] {
        diff(original: writer, update: reader).filter { !$0.isCompatible }
    }

    /// Checks `new` against `previous` (oldest first) at `level`.
    public static func checkCompatibility(new: JSONSchema, previous: [JSONSchema], level: CompatibilityLevel) -> CompatibilityResult {
        CompatibilityDriver.run(new: new, previous: previous, level: level) { reader, writer, readerIsNew, index in
            check(reader: reader, writer: writer).map { $0.issue(updateIsNew: readerIsNew, previousIndex: index) }
        }
    }
}

/// A difference whose path is relative to the schemas being compared.
struct RelativeDifference: Hashable {
    var type: JSONSchemaDifferenceType
    var segments: [String]
    var detail: String

    func prefixed(_ p: [String]) -> RelativeDifference { var c = self; c.segments = p + segments; return c }

    var absolute: JSONSchemaDifference {
        let escaped = segments.map { $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }
        return JSONSchemaDifference(type: type, path: "#/" + escaped.joined(separator: "/"), detail: detail)
    }
}

/// Walks two schemas in parallel; `original` nodes resolve against `original`, `update` nodes against `update`.
struct JSONSchemaDiffer {
    let original: JSONSchema
    let update: JSONSchema
    private struct Pair: Hashable { let o: JSONSchemaNode; let u: JSONSchemaNode }
    private var memo: [Pair: [RelativeDifference]?] = [:]
    private let maxDepth = 128

    init(original: JSONSchema, update: JSONSchema) {
        self.original = original
        self.update = update
    }

    private enum Openness { case open, closed, partial(JSONSchemaNode) }

    private func openness(_ node: JSONSchemaNode?, in doc: JSONSchema) -> Openness {
        guard let node else { return .open }
        switch doc.dereference(node) {
        case .boolean(true): return .open
        case .boolean(false): return .closed
        case .object(let o): return o.isUnconstrained ? .open : .partial(node)
        }
    }

    private static func d(_ t: JSONSchemaDifferenceType, _ detail: String, _ segments: [String] = []) -> RelativeDifference {
        RelativeDifference(type: t, segments: segments, detail: detail)
    }

    private static func fmt(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 9.0e15 ? String(Int64(x)) : String(x)
    }

    private static func hasIncompatible(_ ds: [RelativeDifference]) -> Bool { ds.contains { !$0.type.isCompatible } }

    /// Compares two nodes, memoizing pairs that involve `$ref` so recursive schemas terminate.
    mutating func compare(_ o0: JSONSchemaNode, _ u0: JSONSchemaNode, depth: Int) -> [RelativeDifference] {
        guard depth < maxDepth else { return [] }
        let involvesRef = o0.keywords.ref != nil || u0.keywords.ref != nil
        let key = Pair(o: o0, u: u0)
        if involvesRef {
            if let cached = memo[key] { return cached ?? [] }
            memo[key] = .some(nil)
        }
        let o = original.dereference(o0)
        let u = update.dereference(u0)
        let result: [RelativeDifference]
        switch (o, u) {
        case (.boolean(false), .boolean(false)), (.boolean(true), .boolean(true)):
            result = []
        case (.boolean(false), _):
            result = [Self.d(.typeExtended, "schema changed from false (nothing allowed) to a schema that allows values")]
        case (_, .boolean(false)):
            result = [Self.d(.typeNarrowed, "schema changed to false (nothing allowed)")]
        default:
            result = compareObjects(o.keywords, u.keywords, depth: depth)
        }
        if involvesRef { memo[key] = .some(result) }
        return result
    }

    private static func covered(_ t: JSONSchemaType, by set: [JSONSchemaType]?) -> Bool {
        guard let set else { return true }
        return set.contains(t) || (t == .integer && set.contains(.number))
    }

    private func compareTypes(_ o: [JSONSchemaType]?, _ u: [JSONSchemaType]?) -> RelativeDifference? {
        if o == nil && u == nil { return nil }
        let all = JSONSchemaType.allCases
        let extended = (o ?? all).allSatisfy { Self.covered($0, by: u) }
        let narrowed = (u ?? all).allSatisfy { Self.covered($0, by: o) }
        let detail = "type \(o.map { $0.map(\.rawValue).joined(separator: ",") } ?? "any") -> \(u.map { $0.map(\.rawValue).joined(separator: ",") } ?? "any")"
        switch (extended, narrowed) {
        case (true, true): return nil
        case (true, false): return Self.d(.typeExtended, detail)
        case (false, true): return Self.d(.typeNarrowed, detail)
        case (false, false): return Self.d(.typeChanged, detail)
        }
    }

    private func upperBound(_ o: Double?, _ u: Double?, _ keyword: String,
                            _ added: JSONSchemaDifferenceType, _ removed: JSONSchemaDifferenceType,
                            _ increased: JSONSchemaDifferenceType, _ decreased: JSONSchemaDifferenceType) -> RelativeDifference? {
        switch (o, u) {
        case (nil, nil): return nil
        case (nil, let x?): return Self.d(added, "\(keyword) \(Self.fmt(x)) added")
        case (let x?, nil): return Self.d(removed, "\(keyword) \(Self.fmt(x)) removed")
        case (let a?, let b?):
            if a == b { return nil }
            return Self.d(b > a ? increased : decreased, "\(keyword) \(Self.fmt(a)) -> \(Self.fmt(b))")
        }
    }

    private func intBound(_ o: Int?, _ u: Int?, _ keyword: String, _ a: JSONSchemaDifferenceType, _ r: JSONSchemaDifferenceType,
                          _ i: JSONSchemaDifferenceType, _ dcr: JSONSchemaDifferenceType) -> RelativeDifference? {
        upperBound(o.map(Double.init), u.map(Double.init), keyword, a, r, i, dcr)
    }

    private func hasDefault(_ node: JSONSchemaNode?) -> Bool {
        guard let node else { return false }
        return update.dereference(node).keywords.defaultValue != nil
    }

    private mutating func compareObjects(_ o: JSONSchemaObject, _ u: JSONSchemaObject, depth: Int) -> [RelativeDifference] {
        var out: [RelativeDifference] = []
        if let t = compareTypes(o.types, u.types) {
            if t.type == .typeChanged { return [t] }
            out.append(t)
        }
        // Strings.
        out += [intBound(o.maxLength, u.maxLength, "maxLength", .maxLengthAdded, .maxLengthRemoved, .maxLengthIncreased, .maxLengthDecreased),
                intBound(o.minLength, u.minLength, "minLength", .minLengthAdded, .minLengthRemoved, .minLengthIncreased, .minLengthDecreased)].compactMap { $0 }
        switch (o.pattern, u.pattern) {
        case (nil, let p?): out.append(Self.d(.patternAdded, "pattern \"\(p)\" added"))
        case (let p?, nil): out.append(Self.d(.patternRemoved, "pattern \"\(p)\" removed"))
        case (let a?, let b?) where a != b: out.append(Self.d(.patternChanged, "pattern \"\(a)\" -> \"\(b)\""))
        default: break
        }
        // Numbers.
        out += [upperBound(o.maximum, u.maximum, "maximum", .maximumAdded, .maximumRemoved, .maximumIncreased, .maximumDecreased),
                upperBound(o.minimum, u.minimum, "minimum", .minimumAdded, .minimumRemoved, .minimumIncreased, .minimumDecreased),
                upperBound(o.exclusiveMaximum, u.exclusiveMaximum, "exclusiveMaximum", .exclusiveMaximumAdded, .exclusiveMaximumRemoved, .exclusiveMaximumIncreased, .exclusiveMaximumDecreased),
                upperBound(o.exclusiveMinimum, u.exclusiveMinimum, "exclusiveMinimum", .exclusiveMinimumAdded, .exclusiveMinimumRemoved, .exclusiveMinimumIncreased, .exclusiveMinimumDecreased)].compactMap { $0 }
        switch (o.multipleOf, u.multipleOf) {
        case (nil, let m?): out.append(Self.d(.multipleOfAdded, "multipleOf \(Self.fmt(m)) added"))
        case (let m?, nil): out.append(Self.d(.multipleOfRemoved, "multipleOf \(Self.fmt(m)) removed"))
        case (let a?, let b?) where a != b:
            let detail = "multipleOf \(Self.fmt(a)) -> \(Self.fmt(b))"
            if Self.divides(b, a) { out.append(Self.d(.multipleOfReduced, detail)) }
            else if Self.divides(a, b) { out.append(Self.d(.multipleOfExpanded, detail)) }
            else { out.append(Self.d(.multipleOfChanged, detail)) }
        default: break
        }
        // Objects.
        out += compareProperties(o, u, depth: depth)
        out += [intBound(o.maxProperties, u.maxProperties, "maxProperties", .maxPropertiesAdded, .maxPropertiesRemoved, .maxPropertiesIncreased, .maxPropertiesDecreased),
                intBound(o.minProperties, u.minProperties, "minProperties", .minPropertiesAdded, .minPropertiesRemoved, .minPropertiesIncreased, .minPropertiesDecreased)].compactMap { $0 }
        // Arrays.
        out += compareItems(o, u, depth: depth)
        out += [intBound(o.maxItems, u.maxItems, "maxItems", .maxItemsAdded, .maxItemsRemoved, .maxItemsIncreased, .maxItemsDecreased),
                intBound(o.minItems, u.minItems, "minItems", .minItemsAdded, .minItemsRemoved, .minItemsIncreased, .minItemsDecreased)].compactMap { $0 }
        if o.uniqueItems != u.uniqueItems {
            out.append(u.uniqueItems ? Self.d(.uniqueItemsAdded, "uniqueItems added") : Self.d(.uniqueItemsRemoved, "uniqueItems removed"))
        }
        // Enumerations (const is a one-value enum).
        if let e = compareEnums(o.constValue.map { [$0] } ?? o.enumValues, u.constValue.map { [$0] } ?? u.enumValues) { out.append(e) }
        // Combinators and negation.
        out += compareCombined(o, u, depth: depth)
        out += compareNot(o.not, u.not, depth: depth)
        return out
    }

    /// True when `a` is an integer multiple of `b`.
    private static func divides(_ b: Double, _ a: Double) -> Bool {
        guard b != 0 else { return false }
        let q = a / b
        return abs(q - q.rounded()) < 1e-9
    }

    private func compareEnums(_ o: [JSONValue]?, _ u: [JSONValue]?) -> RelativeDifference? {
        func contains(_ set: [JSONValue], _ v: JSONValue) -> Bool { set.contains { $0.semanticallyEquals(v) } }
        func show(_ vs: [JSONValue]) -> String { "[" + vs.map(\.compactString).joined(separator: ",") + "]" }
        switch (o, u) {
        case (nil, nil): return nil
        case (nil, let b?): return Self.d(.enumArrayNarrowed, "enum \(show(b)) added")
        case (let a?, nil): return Self.d(.enumArrayExtended, "enum \(show(a)) removed")
        case (let a?, let b?):
            let removed = a.filter { !contains(b, $0) }
            let added = b.filter { !contains(a, $0) }
            if removed.isEmpty && added.isEmpty { return nil }
            if removed.isEmpty { return Self.d(.enumArrayExtended, "enum values \(show(added)) added") }
            if added.isEmpty { return Self.d(.enumArrayNarrowed, "enum values \(show(removed)) removed") }
            return Self.d(.enumArrayChanged, "enum values \(show(removed)) removed and \(show(added)) added")
        }
    }

    private mutating func compareProperties(_ o: JSONSchemaObject, _ u: JSONSchemaObject, depth: Int) -> [RelativeDifference] {
        var out: [RelativeDifference] = []
        let oOpen = openness(o.additionalProperties, in: original)
        let uOpen = openness(u.additionalProperties, in: update)
        var names = o.propertyOrder
        for n in u.propertyOrder where o.properties[n] == nil { names.append(n) }
        var addedToClosed: Set<String> = []
        for name in names {
            let seg = ["properties", name]
            switch (o.properties[name], u.properties[name]) {
            case (let op?, let up?):
                out += compare(op, up, depth: depth + 1).map { $0.prefixed(seg) }
            case (nil, let up?):
                switch oOpen {
                case .open:
                    out.append(up.acceptsEverything || update.dereference(up).acceptsEverything
                               ? Self.d(.propertyWithEmptySchemaAddedToOpenContentModel, "property \"\(name)\" with an empty schema added", seg)
                               : Self.d(.propertyAddedToOpenContentModel, "property \"\(name)\" added to an open content model; existing data may hold other values for it", seg))
                case .closed:
                    addedToClosed.insert(name)
                    if u.required.contains(name) {
                        out.append(hasDefault(up)
                                   ? Self.d(.requiredPropertyWithDefaultAddedToUnopenContentModel, "required property \"\(name)\" with a default added", seg)
                                   : Self.d(.requiredPropertyAddedToUnopenContentModel, "required property \"\(name)\" added without a default", seg))
                    } else {
                        out.append(Self.d(.optionalPropertyAddedToUnopenContentModel, "optional property \"\(name)\" added", seg))
                    }
                case .partial(let ap):
                    let covered = !Self.hasIncompatible(compare(ap, up, depth: depth + 1))
                    out.append(covered
                               ? Self.d(.propertyAddedIsCoveredByPartiallyOpenContentModel, "property \"\(name)\" added; its schema accepts everything the old additionalProperties allowed", seg)
                               : Self.d(.propertyAddedNotCoveredByPartiallyOpenContentModel, "property \"\(name)\" added; its schema rejects values the old additionalProperties allowed", seg))
                }
            case (let op?, nil):
                switch uOpen {
                case .open:
                    out.append(Self.d(.propertyRemovedFromOpenContentModel, "property \"\(name)\" removed", seg))
                case .closed:
                    out.append(Self.d(.propertyRemovedFromClosedContentModel, "property \"\(name)\" removed from a closed content model", seg))
                case .partial(let ap):
                    let covered = !Self.hasIncompatible(compare(op, ap, depth: depth + 1))
                    out.append(covered
                               ? Self.d(.propertyRemovedIsCoveredByPartiallyOpenContentModel, "property \"\(name)\" removed; the new additionalProperties accepts its values", seg)
                               : Self.d(.propertyRemovedNotCoveredByPartiallyOpenContentModel, "property \"\(name)\" removed; the new additionalProperties rejects its values", seg))
                }
            case (nil, nil):
                break
            }
        }
        for name in u.required where !o.required.contains(name) && !addedToClosed.contains(name) {
            out.append(hasDefault(u.properties[name])
                       ? Self.d(.requiredAttributeWithDefaultAdded, "property \"\(name)\" became required (it has a default)", ["properties", name])
                       : Self.d(.requiredAttributeAdded, "property \"\(name)\" became required", ["properties", name]))
        }
        for name in o.required where !u.required.contains(name) {
            out.append(Self.d(.requiredAttributeRemoved, "property \"\(name)\" is no longer required", ["properties", name]))
        }
        switch (oOpen, uOpen) {
        case (.closed, .open): out.append(Self.d(.additionalPropertiesAdded, "additionalProperties false -> allowed", ["additionalProperties"]))
        case (.open, .closed): out.append(Self.d(.additionalPropertiesRemoved, "additionalProperties allowed -> false", ["additionalProperties"]))
        case (.closed, .partial): out.append(Self.d(.additionalPropertiesExtended, "additionalProperties false -> schema", ["additionalProperties"]))
        case (.partial, .open): out.append(Self.d(.additionalPropertiesExtended, "additionalProperties schema -> allowed", ["additionalProperties"]))
        case (.partial, .closed): out.append(Self.d(.additionalPropertiesNarrowed, "additionalProperties schema -> false", ["additionalProperties"]))
        case (.open, .partial): out.append(Self.d(.additionalPropertiesNarrowed, "additionalProperties allowed -> schema", ["additionalProperties"]))
        case (.partial(let a), .partial(let b)):
            out += compare(a, b, depth: depth + 1).map { $0.prefixed(["additionalProperties"]) }
        case (.open, .open), (.closed, .closed):
            break
        }
        return out
    }

    private mutating func compareItems(_ o: JSONSchemaObject, _ u: JSONSchemaObject, depth: Int) -> [RelativeDifference] {
        var out: [RelativeDifference] = []
        let oRest = openness(o.restItems, in: original)
        let uRest = openness(u.restItems, in: update)
        let common = min(o.prefixItems.count, u.prefixItems.count)
        for i in 0..<common {
            out += compare(o.prefixItems[i], u.prefixItems[i], depth: depth + 1).map { $0.prefixed(["items", String(i)]) }
        }
        if u.prefixItems.count > common {
            for i in common..<u.prefixItems.count {
                let seg = ["items", String(i)]
                let up = u.prefixItems[i]
                switch oRest {
                case .open:
                    out.append(up.acceptsEverything
                               ? Self.d(.itemWithEmptySchemaAddedToOpenContentModel, "item \(i) with an empty schema added", seg)
                               : Self.d(.itemAddedToOpenContentModel, "item \(i) added to an open content model", seg))
                case .closed:
                    out.append(Self.d(.itemAddedToClosedContentModel, "item \(i) added to a closed content model", seg))
                case .partial(let rest):
                    out.append(Self.hasIncompatible(compare(rest, up, depth: depth + 1))
                               ? Self.d(.itemAddedNotCoveredByPartiallyOpenContentModel, "item \(i) added; its schema rejects values the old additional items allowed", seg)
                               : Self.d(.itemAddedIsCoveredByPartiallyOpenContentModel, "item \(i) added; its schema accepts the old additional items", seg))
                }
            }
        }
        if o.prefixItems.count > common {
            for i in common..<o.prefixItems.count {
                let seg = ["items", String(i)]
                let op = o.prefixItems[i]
                switch uRest {
                case .open:
                    out.append(Self.d(.itemRemovedFromOpenContentModel, "item \(i) removed", seg))
                case .closed:
                    out.append(Self.d(.itemRemovedFromClosedContentModel, "item \(i) removed from a closed content model", seg))
                case .partial(let rest):
                    out.append(Self.hasIncompatible(compare(op, rest, depth: depth + 1))
                               ? Self.d(.itemRemovedNotCoveredByPartiallyOpenContentModel, "item \(i) removed; the new additional items schema rejects its values", seg)
                               : Self.d(.itemRemovedIsCoveredByPartiallyOpenContentModel, "item \(i) removed; the new additional items schema accepts its values", seg))
                }
            }
        }
        let restSeg = (o.isTuple || u.isTuple) ? ["additionalItems"] : ["items"]
        switch (oRest, uRest) {
        case (.closed, .open): out.append(Self.d(.additionalItemsAdded, "additional items false -> allowed", restSeg))
        case (.open, .closed): out.append(Self.d(.additionalItemsRemoved, "additional items allowed -> false", restSeg))
        case (.closed, .partial): out.append(Self.d(.additionalItemsExtended, "additional items false -> schema", restSeg))
        case (.partial, .open): out.append(Self.d(.additionalItemsExtended, "items schema -> any", restSeg))
        case (.partial, .closed): out.append(Self.d(.additionalItemsNarrowed, "items schema -> false", restSeg))
        case (.open, .partial): out.append(Self.d(.additionalItemsNarrowed, "any items -> items schema", restSeg))
        case (.partial(let a), .partial(let b)):
            out += compare(a, b, depth: depth + 1).map { $0.prefixed(restSeg) }
        case (.open, .open), (.closed, .closed):
            break
        }
        return out
    }

    /// Greedy one-to-one matching: for every `from` schema find an unused `to` schema accepted by `accepts`.
    private mutating func unmatchedCount(_ from: [JSONSchemaNode], _ to: [JSONSchemaNode], depth: Int,
                                         fromIsOriginal: Bool) -> Int {
        var used = Set<Int>()
        var unmatched = 0
        for (i, f) in from.enumerated() {
            var order = Array(to.indices)
            if i < to.count { order.removeAll { $0 == i }; order.insert(i, at: 0) }
            var found = false
            for j in order where !used.contains(j) {
                let ds = fromIsOriginal ? compare(f, to[j], depth: depth + 1) : compare(to[j], f, depth: depth + 1)
                if !Self.hasIncompatible(ds) { used.insert(j); found = true; break }
            }
            if !found { unmatched += 1 }
        }
        return unmatched
    }

    private mutating func compareCombined(_ o: JSONSchemaObject, _ u: JSONSchemaObject, depth: Int) -> [RelativeDifference] {
        var out: [RelativeDifference] = []
        let criteria: [(String, [JSONSchemaNode]?, [JSONSchemaNode]?, Bool)] = [
            ("oneOf", o.oneOf, u.oneOf, true), ("anyOf", o.anyOf, u.anyOf, true), ("allOf", o.allOf, u.allOf, false),
        ]
        // The original schema without combinators, used when a combinator is introduced.
        var oPlain = o; oPlain.oneOf = nil; oPlain.anyOf = nil; oPlain.allOf = nil
        var uPlain = u; uPlain.oneOf = nil; uPlain.anyOf = nil; uPlain.allOf = nil
        for (name, ob, ub, isSum) in criteria {
            let seg = [name]
            switch (ob, ub) {
            case (nil, nil):
                continue
            case (let a?, let b?):
                if isSum {
                    if b.count < a.count { out.append(Self.d(.sumTypeNarrowed, "\(name) has \(a.count) -> \(b.count) subschemas", seg)); continue }
                    if b.count > a.count { out.append(Self.d(.sumTypeExtended, "\(name) has \(a.count) -> \(b.count) subschemas", seg)) }
                    if unmatchedCount(a, b, depth: depth, fromIsOriginal: true) > 0 {
                        out.append(Self.d(.combinedTypeSubschemasChanged, "some \(name) subschemas of the old schema have no compatible counterpart", seg))
                    }
                } else {
                    if b.count > a.count { out.append(Self.d(.productTypeExtended, "allOf has \(a.count) -> \(b.count) subschemas", seg)); continue }
                    if b.count < a.count { out.append(Self.d(.productTypeNarrowed, "allOf has \(a.count) -> \(b.count) subschemas", seg)) }
                    if unmatchedCount(b, a, depth: depth, fromIsOriginal: false) > 0 {
                        out.append(Self.d(.combinedTypeSubschemasChanged, "some allOf subschemas of the updated schema are stricter", seg))
                    }
                }
            case (nil, let b?):
                if isSum {
                    let plainNode = JSONSchemaNode.object(oPlain)
                    var ok = false
                    for branch in b where !Self.hasIncompatible(compare(plainNode, branch, depth: depth + 1)) { ok = true; break }
                    out.append(ok ? Self.d(.combinedTypeExtended, "\(name) introduced with a branch that accepts the old schema", seg)
                                  : Self.d(.combinedTypeChanged, "\(name) introduced and no branch accepts the old schema", seg))
                } else {
                    let plainNode = JSONSchemaNode.object(oPlain)
                    let stricter = b.contains { Self.hasIncompatible(compare(plainNode, $0, depth: depth + 1)) }
                    if stricter { out.append(Self.d(.productTypeExtended, "allOf introduced with stricter subschemas", seg)) }
                }
            case (let a?, nil):
                if isSum {
                    let plainNode = JSONSchemaNode.object(uPlain)
                    let rejected = a.contains { Self.hasIncompatible(compare($0, plainNode, depth: depth + 1)) }
                    if rejected { out.append(Self.d(.sumTypeNarrowed, "\(name) removed and some of its subschemas are not accepted any more", seg)) }
                } else {
                    out.append(Self.d(.productTypeNarrowed, "allOf removed", seg))
                }
            }
        }
        return out
    }

    private mutating func compareNot(_ o: JSONSchemaNode?, _ u: JSONSchemaNode?, depth: Int) -> [RelativeDifference] {
        switch (o, u) {
        case (nil, nil): return []
        case (nil, .some): return [Self.d(.notTypeExtended, "not added", ["not"])]
        case (.some, nil): return [Self.d(.notTypeNarrowed, "not removed", ["not"])]
        case (let a?, let b?):
            let forward = compare(a, b, depth: depth + 1)
            if forward.isEmpty { return [] }
            if !Self.hasIncompatible(forward) {
                return [Self.d(.notTypeExtended, "the negated schema accepts more, so fewer values are allowed", ["not"])]
            }
            var reverse = JSONSchemaDiffer(original: update, update: original)
            if !Self.hasIncompatible(reverse.compare(b, a, depth: depth + 1)) {
                return [Self.d(.notTypeNarrowed, "the negated schema accepts less, so more values are allowed", ["not"])]
            }
            return [Self.d(.notTypeChanged, "the negated schema changed incompatibly", ["not"])]
        }
    }
}
