import Testing
@testable import SkeinSchemas

// Confluent Schema Registry's own JSON Schema diff examples, ported as data from
// `json-schema-provider/src/test/resources/*.json` of confluentinc/schema-registry. Each case gives an
// original and an updated schema, the differences Confluent's `SchemaDiff` reports ("TYPE #/path") and
// whether the update is compatible under the default (strict) policy, i.e. whether a reader using the
// update accepts all data valid under the original.
//
// Every case checks the verdict. The difference types are checked where our model has them: the
// incompatible types we report must be exactly Confluent's incompatible types (when Confluent names only
// types we model), and every Confluent type we model must be among ours.
// Cases listed in `confluentKnownDifferences` still differ from Confluent, with the reason; they run inside
// `withKnownIssue`, so one that starts agreeing fails until it is taken off the list.

struct ConfluentCase: Sendable, CustomStringConvertible {
    let file: String
    let index: Int
    let label: String
    let original: String
    let update: String
    let compatible: Bool
    let lenient: Bool?
    let changes: [String]
    init(_ file: String, _ index: Int, _ label: String, _ original: String, _ update: String,
         compatible: Bool, lenient: Bool? = nil, changes: [String]) {
        self.file = file
        self.index = index
        self.label = label
        self.original = original
        self.update = update
        self.compatible = compatible
        self.lenient = lenient
        self.changes = changes
    }
    var key: String { "\(file)#\(index)" }
    var description: String { "\(key) \(label)" }
    /// Confluent's difference types, without paths.
    var changeTypes: [String] { changes.map { String($0.split(separator: " ").first ?? "") } }
}

/// Confluent difference types that our model does not have (keywords we do not compare, or annotation
/// changes that never affect compatibility).
private let unmodelledTypes: Set<String> = [
    "ID_CHANGED", "TITLE_CHANGED", "DESCRIPTION_CHANGED", "DEFAULT_CHANGED",     "DEPENDENCY_ARRAY_ADDED", "DEPENDENCY_ARRAY_REMOVED", "DEPENDENCY_ARRAY_EXTENDED", "DEPENDENCY_ARRAY_NARROWED",
    "DEPENDENCY_ARRAY_CHANGED", "DEPENDENCY_SCHEMA_ADDED", "DEPENDENCY_SCHEMA_REMOVED", "MIN_CONTAINS_INCREASED", "MIN_CONTAINS_DECREASED", "MAX_CONTAINS_INCREASED", "MAX_CONTAINS_DECREASED",
    "UNEVALUATED_PROPERTIES_ADDED", "UNEVALUATED_PROPERTIES_REMOVED", "UNEVALUATED_ITEMS_ADDED", "UNEVALUATED_ITEMS_REMOVED",
]

/// Cases where we still differ from Confluent, keyed `file#index`, with the reason.
let confluentKnownDifferences: [String: String] = [
    "diff-schema-examples#25": "a type with an enum is one schema to us (Confluent: allOf[type, enum], so PRODUCT_TYPE_NARROWED); we report ENUM_ARRAY_EXTENDED, same verdict",
    "diff-schema-examples#48": "\(dep)",
    "diff-schema-examples#51": "\(dep)",
    "diff-schema-examples#52": "\(dep)",
    "diff-schema-examples#56": "\(prop)",
    "diff-schema-examples#59": "\(prop)",
    "diff-schema-examples#79": "\(prop)",
    "diff-schema-examples-2020-12#50": "\(dep)",
    "diff-schema-examples-2020-12#53": "\(dep)",
    "diff-schema-examples-2020-12#54": "\(dep)",
    "diff-schema-examples-2020-12#83": "`minContains` / `maxContains` are not compared yet",
]

private let dep = "`dependencies` / `dependentRequired` / `dependentSchemas` are not compared yet"
private let prop = "`{\"properties\":{}}` is an empty schema to us (Confluent: an ObjectSchema), so nothing is reported when a schema becomes it; same verdict"

@Suite struct JSONSchemaConfluentCasesTests {
    static let all = confluent_schema_examples + confluent_combined + confluent_schema_examples2020 + confluent_combined2020

    @Test func allResourcesPorted() {
        #expect(confluent_schema_examples.count == 104)
        #expect(confluent_combined.count == 28)
        #expect(confluent_schema_examples2020.count == 113)
        #expect(confluent_combined2020.count == 18)
    }

    @Test(arguments: all)
    func confluentCase(_ c: ConfluentCase) throws {
        if let reason = confluentKnownDifferences[c.key] {
            withKnownIssue(Comment(rawValue: reason)) { try Self.check(c) }
        } else {
            try Self.check(c)
        }
    }

    static func check(_ c: ConfluentCase) throws {
        let original = try JSONSchema.parse(c.original)
        let update = try JSONSchema.parse(c.update)
        let diffs = JSONSchemaCompatibility.diff(original: original, update: update)
        let incompatible = diffs.filter { !$0.isCompatible }
        #expect(incompatible.isEmpty == c.compatible, "verdict: \(diffs)")
        let theirs = c.changeTypes
        let modelled = theirs.filter { !unmodelledTypes.contains($0) }
        let known = modelled.compactMap { JSONSchemaDifferenceType(rawValue: $0) }
        #expect(known.count == modelled.count, "types missing from our model: \(modelled)")
        let ours = Set(diffs.map(\.type))
        #expect(Set(known).isSubset(of: ours), "Confluent: \(theirs); ours: \(diffs)")
        if modelled.count == theirs.count {
            #expect(Set(incompatible.map(\.type)) == Set(known.filter { !$0.isCompatible }), "Confluent: \(theirs); ours: \(diffs)")
        }
    }
}
