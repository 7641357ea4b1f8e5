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
    /// Change kinds: `SCHEMA_ADDED`, `SCHEMA_REMOVED` (a subschema such as the all-items `items` appears or
    /// disappears).
    case schemaAdded = "SCHEMA_ADDED", schemaRemoved = "SCHEMA_REMOVED"
    /// Change kinds: `OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`, `REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`,
    /// `REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL` (Confluent's current names; older versions
    /// said `PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`). All three are incompatible under Confluent's default
    /// (strict) policy: existing data may hold other values for the property.
    case optionalPropertyAddedToOpenContentModel = "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
    case requiredPropertyAddedToOpenContentModel = "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
    case requiredPropertyWithDefaultAddedToOpenContentModel = "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL"
    /// Change kinds: `PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL` (compatible: no data had it).
    case propertyWithFalseRemovedFromClosedContentModel = "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL"
    /// Change kinds: `ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL` (compatible: no data had it).
    case itemWithFalseRemovedFromClosedContentModel = "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL"
    /// Not a Confluent kind: the schemas nest too deeply or are too large to compare within the work budget.
    /// Reported as incompatible, so such a change is rejected with this reason instead of being judged wrongly.
    case comparisonTooComplex = "COMPARISON_TOO_COMPLEX"
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
    /// Change kinds: `NOT_TYPE_EXTENDED`, `NOT_TYPE_NARROWED`.
    case notTypeExtended = "NOT_TYPE_EXTENDED", notTypeNarrowed = "NOT_TYPE_NARROWED"

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
        .schemaRemoved, .propertyWithFalseRemovedFromClosedContentModel, .itemWithFalseRemovedFromClosedContentModel,
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
    /// When the schemas are too deep or too large to compare within the work budget, the result is a single
    /// incompatible `COMPARISON_TOO_COMPLEX` difference (never a guessed verdict).
    public static func diff(original: JSONSchema, update: JSONSchema) -> [JSONSchemaDifference] {
        var seed: [JSONSchemaDiffer.Pair: [RelativeDifference]] = [:]
        var work = 0
        var relative: [RelativeDifference] = []
        // Recursive cycles are cut optimistically; repeat, feeding back the pairs found incompatible, until
        // that no longer changes which pairs are incompatible (the set only grows, so this ends).
        for _ in 0..<64 {
            var differ = JSONSchemaDiffer(original: original, update: update)
            differ.seed = seed
            differ.work = work
            relative = differ.compare(original.root, update.root, depth: 0)
            work = differ.work
            if let why = differ.exceeded {
                return [JSONSchemaDifference(type: .comparisonTooComplex, path: "#/", detail: why)]
            }
            var incompatible: [JSONSchemaDiffer.Pair: [RelativeDifference]] = [:]
            for (pair, result) in differ.memo {
                if let result, JSONSchemaDiffer.hasIncompatible(result) { incompatible[pair] = result }
            }
            if !differ.usedOptimisticTruncation || Set(incompatible.keys) == Set(seed.keys) { break }
            seed = incompatible
        }
        var seen: Set<JSONSchemaDifference> = []
        return relative.compactMap { d in
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
///
/// Every compared pair is memoized, so combinators nested in combinators (whose subschemas are compared
/// pairwise) and `$ref` graphs cost at most one comparison per distinct pair instead of growing
/// exponentially with the nesting. A pair met again while it is still being compared is a recursive cycle;
/// it is optimistically taken as compatible, and `JSONSchemaCompatibility.diff` repeats the walk, seeded
/// with the pairs found incompatible, until that assumption no longer changes the result (as Confluent's
/// `SchemaDiff.compare` does). Depth and work are capped; exceeding a cap is reported as
/// `COMPARISON_TOO_COMPLEX`, never as a verdict.
struct JSONSchemaDiffer {
    let original: JSONSchema
    let update: JSONSchema
    struct Pair: Hashable { let o: JSONSchemaNode; let u: JSONSchemaNode }
    private(set) var memo: [Pair: [RelativeDifference]?] = [:]
    /// Results to use for pairs met again inside their own comparison (from the previous pass).
    var seed: [Pair: [RelativeDifference]] = [:]
    /// True when a recursive cycle was cut with the optimistic (compatible) assumption.
    private(set) var usedOptimisticTruncation = false
    /// Why the comparison gave up (depth or work cap), if it did.
    private(set) var exceeded: String?
    /// Pair comparisons done so far, shared with the reversed walks of `not`.
    var work = 0
    static let maxDepth = 128
    static let workBudget = 200_000

    init(original: JSONSchema, update: JSONSchema) {
        self.original = original
        self.update = update
        sameDefinitions = original.refTargets == update.refTargets
    }

    private let sameDefinitions: Bool

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

    static func hasIncompatible(_ ds: [RelativeDifference]) -> Bool { ds.contains { !$0.type.isCompatible } }

    private mutating func giveUp(_ why: String) -> [RelativeDifference] {
        if exceeded == nil { exceeded = why }
        return [Self.d(.comparisonTooComplex, why)]
    }

    /// Compares two nodes (memoized per pair).
    mutating func compare(_ o0: JSONSchemaNode, _ u0: JSONSchemaNode, depth: Int) -> [RelativeDifference] {
        if exceeded != nil { return [Self.d(.comparisonTooComplex, exceeded ?? "")] }
        guard depth < Self.maxDepth else { return giveUp("the schemas nest more than \(Self.maxDepth) levels deep") }
        // Identical subschemas of documents with the same definitions have no differences.
        if sameDefinitions && o0 == u0 { return [] }
        let key = Pair(o: o0, u: u0)
        if let cached = memo[key] {
            if let done = cached { return done }
            if let seeded = seed[key] { return seeded }
            usedOptimisticTruncation = true
            return []
        }
        work += 1
        guard work <= Self.workBudget else { return giveUp("comparing the schemas takes more than \(Self.workBudget) subschema comparisons") }
        memo[key] = .some(nil)
        let result = compareResolved(original.dereference(o0), update.dereference(u0), depth: depth)
        memo[key] = .some(result)
        return result
    }

    private enum CombinedKind: String { case oneOf, anyOf, allOf }
    private struct Combined { let kind: CombinedKind; let branches: [JSONSchemaNode]; var single: Bool { branches.count == 1 } }

    /// The schema as a pure combination (`oneOf`, `anyOf` or `allOf` and only annotations beside it), which
    /// is what Confluent's `CombinedSchema` is; nil for other schemas.
    private static func pureCombined(_ node: JSONSchemaNode) -> Combined? {
        guard case .object(let o) = node else { return nil }
        let present = [(CombinedKind.oneOf, o.oneOf), (.anyOf, o.anyOf), (.allOf, o.allOf)].compactMap { k, b in b.map { (k, $0) } }
        guard present.count == 1, let (kind, branches) = present.first else { return nil }
        var rest = o
        rest.oneOf = nil; rest.anyOf = nil; rest.allOf = nil
        return rest.isUnconstrained ? Combined(kind: kind, branches: branches) : nil
    }

    private mutating func compareResolved(_ o: JSONSchemaNode, _ u: JSONSchemaNode, depth: Int) -> [RelativeDifference] {
        // Boolean and empty schemas, as in Confluent's SchemaDiff: anything may become an empty schema
        // (`true`, `{}`, annotations only) and `false` may become anything, with no difference reported;
        // any other change from an empty schema or to `false` is TYPE_CHANGED (so `true` -> `false` is
        // TYPE_CHANGED, not TYPE_NARROWED). This holds for subschemas too (property, item, additional* schemas).
        if u.acceptsEverything { return [] }
        if case .boolean(false) = o { return [] }
        if case .boolean(false) = u { return [Self.d(.typeChanged, "schema changed to false (nothing allowed)")] }
        if o.acceptsEverything { return [Self.d(.typeChanged, "schema changed from one that allows everything to a constrained one")] }
        switch (Self.pureCombined(o), Self.pureCombined(u)) {
        case (nil, let c?):
            // A combination with one subschema is that subschema; a oneOf/anyOf accepts the old schema when
            // one of its subschemas does (SUM_TYPE_EXTENDED). Otherwise the kind of schema changed.
            if c.single {
                let ds = compare(o, c.branches[0], depth: depth + 1)
                if !Self.hasIncompatible(ds) { return ds }
            } else if c.kind != .allOf {
                for b in c.branches {
                    let ds = compare(o, b, depth: depth + 1)
                    if !Self.hasIncompatible(ds) { return ds + [Self.d(.sumTypeExtended, "\(c.kind.rawValue) introduced with a subschema that accepts the old schema")] }
                }
            }
            return [Self.d(.typeChanged, "schema changed to a \(c.kind.rawValue) that does not accept it")]
        case (let c?, nil):
            // A combination with one subschema is that subschema; an allOf may be replaced by one of its
            // subschemas (PRODUCT_TYPE_NARROWED). Otherwise (a oneOf/anyOf of several) the kind changed.
            if c.single {
                let ds = compare(c.branches[0], u, depth: depth + 1)
                if !Self.hasIncompatible(ds) { return ds }
            } else if c.kind == .allOf {
                for b in c.branches {
                    let ds = compare(b, u, depth: depth + 1)
                    if !Self.hasIncompatible(ds) { return ds + [Self.d(.productTypeNarrowed, "allOf replaced by a schema one of its subschemas accepts")] }
                }
            }
            return [Self.d(.typeChanged, "\(c.kind.rawValue) replaced by a schema that does not accept it")]
        case (let a?, let b?):
            return compareCombinations(a, b, depth: depth)
        case (nil, nil):
            return compareObjects(o.keywords, u.keywords, depth: depth)
        }
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
        // A type array is a union in Confluent: one that adds types to a given type is SUM_TYPE_EXTENDED.
        case (true, false) where o != nil && (u?.count ?? 0) > 1 && (u?.count ?? 0) > (o?.count ?? 0):
            return Self.d(.sumTypeExtended, detail)
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

    /// Content model of an object for property `name`, as Confluent's ObjectSchemaDiff sees it: open when
    /// neither `additionalProperties`, `patternProperties` nor `unevaluatedProperties` restricts other
    /// properties; partially open when a matching pattern (searched anywhere in the name, like Java's
    /// `Matcher.find`), else the `additionalProperties` schema, else the `unevaluatedProperties` schema
    /// covers the name; closed otherwise. Note Confluent (followed here) and Karapace disagree when
    /// `patternProperties` is present, no pattern matches and `additionalProperties` is absent or `true`:
    /// Confluent calls that closed (removing the property is PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL),
    /// Karapace covers the name with the `true` schema; Karapace also anchors patterns at the start (`re.match`).
    private func propertyModel(_ obj: JSONSchemaObject, _ name: String, in doc: JSONSchema) -> Openness {
        let ap = obj.additionalProperties.map { doc.dereference($0) }
        let ue = obj.unevaluatedProperties.map { doc.dereference($0) }
        if (ap?.acceptsEverything ?? true) && obj.patternProperties.isEmpty && (ue?.acceptsEverything ?? true) { return .open }
        for p in obj.patternOrder where Self.patternFinds(p, in: name) {
            if let s = obj.patternProperties[p] { return .partial(s) }
        }
        if let ap, !ap.acceptsEverything, ap != .boolean(false), let s = obj.additionalProperties { return .partial(s) }
        if obj.additionalProperties == nil, let ue, !ue.acceptsEverything, ue != .boolean(false), let s = obj.unevaluatedProperties { return .partial(s) }
        return .closed
    }

    private static func patternFinds(_ pattern: String, in s: String) -> Bool {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return false }
        return re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    private func isFalse(_ node: JSONSchemaNode, in doc: JSONSchema) -> Bool { doc.dereference(node) == .boolean(false) }
    private func isEmpty(_ node: JSONSchemaNode, in doc: JSONSchema) -> Bool { doc.dereference(node).acceptsEverything }

    private mutating func compareProperties(_ o: JSONSchemaObject, _ u: JSONSchemaObject, depth: Int) -> [RelativeDifference] {
        var out: [RelativeDifference] = []
        var names = o.propertyOrder
        for n in u.propertyOrder where o.properties[n] == nil { names.append(n) }
        for name in names {
            let seg = ["properties", name]
            switch (o.properties[name], u.properties[name]) {
            case (let op?, let up?):
                // `required` is compared only for properties both schemas declare (as Confluent does).
                switch (o.required.contains(name), u.required.contains(name)) {
                case (true, false): out.append(Self.d(.requiredAttributeRemoved, "property \"\(name)\" is no longer required", seg))
                case (false, true):
                    out.append(hasDefault(up)
                               ? Self.d(.requiredAttributeWithDefaultAdded, "property \"\(name)\" became required (it has a default)", seg)
                               : Self.d(.requiredAttributeAdded, "property \"\(name)\" became required", seg))
                default: break
                }
                out += compare(op, up, depth: depth + 1).map { $0.prefixed(seg) }
            case (nil, let up?):
                let required = u.required.contains(name)
                let model = propertyModel(o, name, in: original)
                if case .open = model {
                    if isEmpty(up, in: update) {
                        out.append(Self.d(.propertyWithEmptySchemaAddedToOpenContentModel, "property \"\(name)\" with an empty schema added", seg))
                    } else if required {
                        out.append(hasDefault(up)
                                   ? Self.d(.requiredPropertyWithDefaultAddedToOpenContentModel, "required property \"\(name)\" with a default added to an open content model; existing data may hold other values for it", seg)
                                   : Self.d(.requiredPropertyAddedToOpenContentModel, "required property \"\(name)\" added to an open content model", seg))
                    } else {
                        out.append(Self.d(.optionalPropertyAddedToOpenContentModel, "property \"\(name)\" added to an open content model; existing data may hold other values for it", seg))
                    }
                    continue
                }
                if case .partial(let s) = model {
                    let ds = compare(s, up, depth: depth + 1)
                    out += ds.map { $0.prefixed(seg) }
                    out.append(Self.hasIncompatible(ds)
                               ? Self.d(.propertyAddedNotCoveredByPartiallyOpenContentModel, "property \"\(name)\" added; its schema rejects values the old schema allowed for it", seg)
                               : Self.d(.propertyAddedIsCoveredByPartiallyOpenContentModel, "property \"\(name)\" added; its schema accepts everything the old schema allowed for it", seg))
                }
                if required {
                    out.append(hasDefault(up)
                               ? Self.d(.requiredPropertyWithDefaultAddedToUnopenContentModel, "required property \"\(name)\" with a default added", seg)
                               : Self.d(.requiredPropertyAddedToUnopenContentModel, "required property \"\(name)\" added without a default", seg))
                } else {
                    out.append(Self.d(.optionalPropertyAddedToUnopenContentModel, "optional property \"\(name)\" added", seg))
                }
            case (let op?, nil):
                switch propertyModel(u, name, in: update) {
                case .open:
                    out.append(Self.d(.propertyRemovedFromOpenContentModel, "property \"\(name)\" removed", seg))
                case .partial(let s):
                    let ds = compare(op, s, depth: depth + 1)
                    out += ds.map { $0.prefixed(seg) }
                    out.append(Self.hasIncompatible(ds)
                               ? Self.d(.propertyRemovedNotCoveredByPartiallyOpenContentModel, "property \"\(name)\" removed; the new schema rejects some of its values", seg)
                               : Self.d(.propertyRemovedIsCoveredByPartiallyOpenContentModel, "property \"\(name)\" removed; the new schema accepts its values", seg))
                case .closed:
                    out.append(isFalse(op, in: original)
                               ? Self.d(.propertyWithFalseRemovedFromClosedContentModel, "property \"\(name)\" (false) removed from a closed content model", seg)
                               : Self.d(.propertyRemovedFromClosedContentModel, "property \"\(name)\" removed from a closed content model", seg))
                }
            case (nil, nil):
                break
            }
        }
        out += compareAdditional(o.additionalProperties, u.additionalProperties, segment: "additionalProperties",
                                 added: .additionalPropertiesAdded, removed: .additionalPropertiesRemoved,
                                 extended: .additionalPropertiesExtended, narrowed: .additionalPropertiesNarrowed, depth: depth)
        out += compareUnevaluated(o.unevaluatedProperties, u.unevaluatedProperties, segment: "unevaluatedProperties", depth: depth)
        return out
    }

    /// `additionalProperties` / `additionalItems`, as Confluent compares them: whether more members are
    /// permitted at all (anything but `false`), then whether they are constrained by a schema.
    private mutating func compareAdditional(_ o: JSONSchemaNode?, _ u: JSONSchemaNode?, segment: String,
                                            added: JSONSchemaDifferenceType, removed: JSONSchemaDifferenceType,
                                            extended: JSONSchemaDifferenceType, narrowed: JSONSchemaDifferenceType,
                                            depth: Int) -> [RelativeDifference] {
        let seg = [segment]
        let oPermits = o.map { !isFalse($0, in: original) } ?? true
        let uPermits = u.map { !isFalse($0, in: update) } ?? true
        let oSchema = o.flatMap { oPermits && !isEmpty($0, in: original) ? $0 : nil }
        let uSchema = u.flatMap { uPermits && !isEmpty($0, in: update) ? $0 : nil }
        if oPermits != uPermits {
            return [uPermits ? Self.d(added, "\(segment) false -> allowed", seg) : Self.d(removed, "\(segment) allowed -> false", seg)]
        }
        switch (oSchema, uSchema) {
        case (nil, .some): return [Self.d(narrowed, "\(segment) now constrained by a schema", seg)]
        case (.some, nil): return [Self.d(extended, "\(segment) no longer constrained by a schema", seg)]
        case (let a?, let b?): return compare(a, b, depth: depth + 1).map { $0.prefixed(seg) }
        case (nil, nil): return []
        }
    }

    /// `unevaluatedProperties` / `unevaluatedItems`: Confluent reports changes of these as
    /// `UNEVALUATED_*` kinds, which we do not name; we report the equivalent `ADDITIONAL_*` kind at the
    /// keyword's path so the verdict is the same (absent -> false is REMOVED, false -> anything ADDED,
    /// absent/true -> schema NARROWED, schema -> absent/true EXTENDED, schema -> schema compared).
    private mutating func compareUnevaluated(_ o: JSONSchemaNode?, _ u: JSONSchemaNode?, segment: String, depth: Int) -> [RelativeDifference] {
        if o == nil && u == nil { return [] }
        let items = segment == "unevaluatedItems"
        return compareAdditional(o, u, segment: segment,
                                 added: items ? .additionalItemsAdded : .additionalPropertiesAdded,
                                 removed: items ? .additionalItemsRemoved : .additionalPropertiesRemoved,
                                 extended: items ? .additionalItemsExtended : .additionalPropertiesExtended,
                                 narrowed: items ? .additionalItemsNarrowed : .additionalPropertiesNarrowed, depth: depth)
    }

    /// Content model of an array for the items after the positional ones (Confluent's ArraySchemaDiff):
    /// open when `additionalItems` (or 2020-12 `items` beside `prefixItems`) is absent or `true` and
    /// `unevaluatedItems` is absent or `true`; partially open with that schema; closed when it is `false`.
    private func itemModel(_ obj: JSONSchemaObject, in doc: JSONSchema) -> Openness {
        switch openness(obj.additionalItems, in: doc) {
        case .closed: return .closed
        case .partial(let s): return .partial(s)
        case .open:
            if obj.additionalItems != nil { return .open }
            return openness(obj.unevaluatedItems, in: doc)
        }
    }

    private mutating func compareItems(_ o: JSONSchemaObject, _ u: JSONSchemaObject, depth: Int) -> [RelativeDifference] {
        var out: [RelativeDifference] = []
        // The schema for all items (object-form `items`). A tuple against an all-items schema compares as
        // Confluent does: the all-items schema is added (SCHEMA_ADDED, incompatible) or removed
        // (SCHEMA_REMOVED), and the positional items are added to or removed from the content model.
        switch (o.items, u.items) {
        case (nil, nil): break
        case (nil, .some): out.append(Self.d(.schemaAdded, "items schema added", ["items"]))
        case (.some, nil): out.append(Self.d(.schemaRemoved, "items schema removed", ["items"]))
        case (let a?, let b?): out += compare(a, b, depth: depth + 1).map { $0.prefixed(["items"]) }
        }
        let common = min(o.prefixItems.count, u.prefixItems.count)
        for i in 0..<common {
            out += compare(o.prefixItems[i], u.prefixItems[i], depth: depth + 1).map { $0.prefixed(["items", String(i)]) }
        }
        if o.prefixItems.count > common {
            let model = itemModel(u, in: update)
            for i in common..<o.prefixItems.count {
                let seg = ["items", String(i)]
                let op = o.prefixItems[i]
                switch model {
                case .open:
                    out.append(Self.d(.itemRemovedFromOpenContentModel, "item \(i) removed", seg))
                case .partial(let rest):
                    let ds = compare(op, rest, depth: depth + 1)
                    out += ds.map { $0.prefixed(seg) }
                    out.append(Self.hasIncompatible(ds)
                               ? Self.d(.itemRemovedNotCoveredByPartiallyOpenContentModel, "item \(i) removed; the new additional items schema rejects some of its values", seg)
                               : Self.d(.itemRemovedIsCoveredByPartiallyOpenContentModel, "item \(i) removed; the new additional items schema accepts its values", seg))
                case .closed:
                    out.append(isFalse(op, in: original)
                               ? Self.d(.itemWithFalseRemovedFromClosedContentModel, "item \(i) (false) removed from a closed content model", seg)
                               : Self.d(.itemRemovedFromClosedContentModel, "item \(i) removed from a closed content model", seg))
                }
            }
        }
        if u.prefixItems.count > common {
            let model = itemModel(o, in: original)
            for i in common..<u.prefixItems.count {
                let seg = ["items", String(i)]
                let up = u.prefixItems[i]
                switch model {
                case .open:
                    out.append(isEmpty(up, in: update)
                               ? Self.d(.itemWithEmptySchemaAddedToOpenContentModel, "item \(i) with an empty schema added", seg)
                               : Self.d(.itemAddedToOpenContentModel, "item \(i) added to an open content model", seg))
                case .partial(let rest):
                    let ds = compare(rest, up, depth: depth + 1)
                    out += ds.map { $0.prefixed(seg) }
                    out.append(Self.hasIncompatible(ds)
                               ? Self.d(.itemAddedNotCoveredByPartiallyOpenContentModel, "item \(i) added; its schema rejects values the old additional items allowed", seg)
                               : Self.d(.itemAddedIsCoveredByPartiallyOpenContentModel, "item \(i) added; its schema accepts the old additional items", seg))
                case .closed:
                    out.append(Self.d(.itemAddedToClosedContentModel, "item \(i) added to a closed content model", seg))
                }
            }
        }
        out += compareAdditional(o.additionalItems, u.additionalItems, segment: "additionalItems",
                                 added: .additionalItemsAdded, removed: .additionalItemsRemoved,
                                 extended: .additionalItemsExtended, narrowed: .additionalItemsNarrowed, depth: depth)
        out += compareUnevaluated(o.unevaluatedItems, u.unevaluatedItems, segment: "unevaluatedItems", depth: depth)
        return out
    }

    /// Two combinations, as Confluent's CombinedSchemaDiff: a change of kind is COMBINED_TYPE_EXTENDED when
    /// the new kind accepts at least as much (to anyOf; between singletons; singleton to oneOf; allOf to a
    /// singleton) and COMBINED_TYPE_CHANGED otherwise; then the (deduplicated) subschema counts give
    /// SUM_/PRODUCT_TYPE_EXTENDED/NARROWED, and a maximum matching of compatible (old, new) subschema pairs
    /// must cover the smaller side, or COMBINED_TYPE_SUBSCHEMAS_CHANGED.
    private mutating func compareCombinations(_ a: Combined, _ b: Combined, depth: Int) -> [RelativeDifference] {
        var out: [RelativeDifference] = []
        if a.kind != b.kind {
            let extended = b.kind == .anyOf || (a.single && b.single) || (a.single && b.kind == .oneOf) || (b.single && a.kind == .allOf)
            if !extended { return [Self.d(.combinedTypeChanged, "\(a.kind.rawValue) -> \(b.kind.rawValue)")] }
            out.append(Self.d(.combinedTypeExtended, "\(a.kind.rawValue) -> \(b.kind.rawValue)"))
        }
        var ob: [JSONSchemaNode] = []
        for x in a.branches where !ob.contains(x) { ob.append(x) }
        var ub: [JSONSchemaNode] = []
        for x in b.branches where !ub.contains(x) { ub.append(x) }
        let counts = "\(b.kind.rawValue) has \(ob.count) -> \(ub.count) subschemas"
        if ob.count < ub.count {
            out.append(Self.d(b.kind == .allOf ? .productTypeExtended : .sumTypeExtended, counts))
        } else if ob.count > ub.count {
            out.append(Self.d(a.kind == .allOf ? .productTypeNarrowed : .sumTypeNarrowed, counts))
        }
        var edges: [[Int]] = Array(repeating: [], count: ob.count)
        var edgeDiffs: [Int: [Int: [RelativeDifference]]] = [:]
        for i in ob.indices {
            for j in ub.indices {
                let ds = compare(ob[i], ub[j], depth: depth + 1)
                if !Self.hasIncompatible(ds) {
                    edges[i].append(j)
                    edgeDiffs[i, default: [:]][j] = ds.map { $0.prefixed([a.kind.rawValue, String(i)]) }
                }
            }
        }
        let matchOf = Self.maximumMatching(edges, rightCount: ub.count)
        for (j, i) in matchOf.enumerated() {
            if let i, let ds = edgeDiffs[i]?[j] { out += ds }
        }
        if matchOf.compactMap({ $0 }).count < min(ob.count, ub.count) {
            out.append(Self.d(.combinedTypeSubschemasChanged, "some \(a.kind.rawValue) subschemas have no compatible counterpart"))
        }
        return out
    }

    /// Maximum bipartite matching (augmenting paths); returns, for each right vertex, its left partner.
    private static func maximumMatching(_ edges: [[Int]], rightCount: Int) -> [Int?] {
        var matchOf = [Int?](repeating: nil, count: rightCount)
        func augment(_ i: Int, _ seen: inout [Bool]) -> Bool {
            for j in edges[i] where !seen[j] {
                seen[j] = true
                if matchOf[j] == nil || augment(matchOf[j]!, &seen) { matchOf[j] = i; return true }
            }
            return false
        }
        for i in edges.indices {
            var seen = [Bool](repeating: false, count: rightCount)
            _ = augment(i, &seen)
        }
        return matchOf
    }

    /// Combinators beside other keywords (a schema that is not a pure combination).
    private mutating func compareCombined(_ o: JSONSchemaObject, _ u: JSONSchemaObject, depth: Int) -> [RelativeDifference] {
        var out: [RelativeDifference] = []
        let criteria: [(CombinedKind, [JSONSchemaNode]?, [JSONSchemaNode]?)] = [
            (.oneOf, o.oneOf, u.oneOf), (.anyOf, o.anyOf, u.anyOf), (.allOf, o.allOf, u.allOf),
        ]
        // The schemas without combinators, used when a combinator is introduced or removed.
        var oPlain = o; oPlain.oneOf = nil; oPlain.anyOf = nil; oPlain.allOf = nil
        var uPlain = u; uPlain.oneOf = nil; uPlain.anyOf = nil; uPlain.allOf = nil
        for (kind, ob, ub) in criteria {
            let name = kind.rawValue
            let isSum = kind != .allOf
            switch (ob, ub) {
            case (nil, nil):
                continue
            case (let a?, let b?):
                out += compareCombinations(Combined(kind: kind, branches: a), Combined(kind: kind, branches: b), depth: depth)
            case (nil, let b?):
                let plainNode = JSONSchemaNode.object(oPlain)
                if isSum {
                    var ok = false
                    for branch in b where !Self.hasIncompatible(compare(plainNode, branch, depth: depth + 1)) { ok = true; break }
                    out.append(ok ? Self.d(.sumTypeExtended, "\(name) introduced with a branch that accepts the old schema")
                                  : Self.d(.combinedTypeChanged, "\(name) introduced and no branch accepts the old schema"))
                } else {
                    let stricter = b.contains { Self.hasIncompatible(compare(plainNode, $0, depth: depth + 1)) }
                    if stricter { out.append(Self.d(.productTypeExtended, "allOf introduced with stricter subschemas")) }
                }
            case (let a?, nil):
                let plainNode = JSONSchemaNode.object(uPlain)
                if isSum {
                    let rejected = a.contains { Self.hasIncompatible(compare($0, plainNode, depth: depth + 1)) }
                    if rejected { out.append(Self.d(.sumTypeNarrowed, "\(name) removed and some of its subschemas are not accepted any more")) }
                } else {
                    out.append(Self.d(.productTypeNarrowed, "allOf removed"))
                }
            }
        }
        return out
    }

    /// `not`, as Confluent's NotSchemaDiff: the negated schemas are compared in reverse; when the old
    /// negated schema accepts everything the new one does, fewer values are excluded (NOT_TYPE_NARROWED,
    /// compatible), otherwise NOT_TYPE_EXTENDED. One reversed walk per `not`, so nested `not`s cost linear work.
    private mutating func compareNot(_ o: JSONSchemaNode?, _ u: JSONSchemaNode?, depth: Int) -> [RelativeDifference] {
        switch (o, u) {
        case (nil, nil): return []
        case (nil, .some): return [Self.d(.notTypeExtended, "not added", ["not"])]
        case (.some, nil): return [Self.d(.notTypeNarrowed, "not removed", ["not"])]
        case (let a?, let b?):
            var reverse = JSONSchemaDiffer(original: update, update: original)
            reverse.work = work
            let ds = reverse.compare(b, a, depth: depth + 1)
            work = reverse.work
            if let why = reverse.exceeded { return giveUp(why) }
            if reverse.usedOptimisticTruncation { usedOptimisticTruncation = true }
            if ds.isEmpty { return [] }
            return Self.hasIncompatible(ds)
                ? [Self.d(.notTypeExtended, "the negated schema accepts more, so fewer values are allowed", ["not"])]
                : [Self.d(.notTypeNarrowed, "the negated schema accepts less, so more values are allowed", ["not"])]
        }
    }
}
