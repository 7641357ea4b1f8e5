import Testing
@testable import SkeinSchemas

/// One JSON Schema change. `backward` lists the incompatible change types found when a consumer
/// using `new` reads data written with `old` (empty = backward compatible).
struct JSONSchemaCase: Sendable, CustomStringConvertible {
    let label: String
    let old: String
    let new: String
    let backward: [String]
    let path: String?
    init(_ label: String, old: String, new: String, _ backward: [String] = [], at path: String? = nil) {
        self.label = label
        self.old = old
        self.new = new
        self.backward = backward
        self.path = path
    }
    var description: String { label }
}

private func obj(_ props: String, required: [String] = [], additional: String? = nil) -> String {
    var s = #"{"type":"object","properties":{\#(props)}"#
    if !required.isEmpty { s += #","required":[\#(required.map { "\"\($0)\"" }.joined(separator: ","))]"# }
    if let additional { s += #","additionalProperties":\#(additional)"# }
    return s + "}"
}

private let treeOld = #"{"$ref":"\u0023/definitions/Node","definitions":{"Node":{"type":"object","properties":{"value":{"type":["string","null"]},"children":{"type":"array","items":{"$ref":"\u0023/definitions/Node"}}}}}}"#
private let treeSame = treeOld
private let treeNarrow = #"{"$ref":"\u0023/definitions/Node","definitions":{"Node":{"type":"object","properties":{"value":{"type":"string"},"children":{"type":"array","items":{"$ref":"\u0023/definitions/Node"}}}}}}"#
private let treeWide = #"{"$ref":"\u0023/definitions/Node","definitions":{"Node":{"type":"object","properties":{"value":{"type":["string","null","number"]},"children":{"type":"array","items":{"$ref":"\u0023/definitions/Node"}}}}}}"#

let jsonSchemaCases: [JSONSchemaCase] = [
    // Types
    .init("same type", old: #"{"type":"string"}"#, new: #"{"type":"string"}"#),
    .init("type widened with null", old: #"{"type":"string"}"#, new: #"{"type":["string","null"]}"#),
    .init("type narrowed", old: #"{"type":["string","null"]}"#, new: #"{"type":"string"}"#, ["TYPE_NARROWED"], at: "#/"),
    .init("integer widened to number", old: #"{"type":"integer"}"#, new: #"{"type":"number"}"#),
    .init("number narrowed to integer", old: #"{"type":"number"}"#, new: #"{"type":"integer"}"#, ["TYPE_NARROWED"]),
    .init("type changed", old: #"{"type":"string"}"#, new: #"{"type":"integer"}"#, ["TYPE_CHANGED"]),
    .init("type added", old: #"{}"#, new: #"{"type":"string"}"#, ["TYPE_CHANGED"]),  // Confluent: EmptySchema -> StringSchema
    .init("type removed", old: #"{"type":"string"}"#, new: #"{}"#),
    .init("nested property type narrowed", old: obj(#""a":{"type":["integer","string"]}"#), new: obj(#""a":{"type":"integer"}"#), ["TYPE_NARROWED"], at: "#/properties/a"),
    // Properties and required
    .init("required property added to closed model", old: obj(#""a":{"type":"string"}"#, additional: "false"), new: obj(#""a":{"type":"string"},"b":{"type":"string"}"#, required: ["b"], additional: "false"), ["REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"], at: "#/properties/b"),
    .init("required property with default added to closed model", old: obj(#""a":{"type":"string"}"#, additional: "false"), new: obj(#""a":{"type":"string"},"b":{"type":"string","default":"x"}"#, required: ["b"], additional: "false")),
    .init("optional property added to closed model", old: obj(#""a":{"type":"string"}"#, additional: "false"), new: obj(#""a":{"type":"string"},"b":{"type":"string"}"#, additional: "false")),
    .init("property added to open model", old: obj(#""a":{"type":"string"}"#), new: obj(#""a":{"type":"string"},"b":{"type":"string"}"#), ["OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"], at: "#/properties/b"),  // Confluent's current name
    .init("empty-schema property added to open model", old: obj(#""a":{"type":"string"}"#), new: obj(#""a":{"type":"string"},"b":{}"#)),
    .init("required added to existing property", old: obj(#""a":{"type":"string"}"#), new: obj(#""a":{"type":"string"}"#, required: ["a"]), ["REQUIRED_ATTRIBUTE_ADDED"], at: "#/properties/a"),
    .init("required added to property with default", old: obj(#""a":{"type":"string","default":""}"#), new: obj(#""a":{"type":"string","default":""}"#, required: ["a"])),
    .init("required removed", old: obj(#""a":{"type":"string"}"#, required: ["a"]), new: obj(#""a":{"type":"string"}"#)),
    .init("property removed from open model", old: obj(#""a":{"type":"string"},"b":{"type":"string"}"#), new: obj(#""a":{"type":"string"}"#)),
    .init("property removed from closed model", old: obj(#""a":{"type":"string"},"b":{"type":"string"}"#, additional: "false"), new: obj(#""a":{"type":"string"}"#, additional: "false"), ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"], at: "#/properties/b"),
    .init("property added covered by partially open model", old: obj(#""a":{"type":"string"}"#, additional: #"{"type":"string"}"#), new: obj(#""a":{"type":"string"},"b":{"type":["string","null"]}"#, additional: #"{"type":"string"}"#)),
    .init("property added not covered by partially open model", old: obj(#""a":{"type":"string"}"#, additional: #"{"type":"string"}"#), new: obj(#""a":{"type":"string"},"b":{"type":"integer"}"#, additional: #"{"type":"string"}"#), ["TYPE_CHANGED", "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"]),  // Confluent also reports the subschema's differences
    .init("property removed covered by partially open model", old: obj(#""a":{"type":"string"},"b":{"type":"string"}"#, additional: #"{"type":"string"}"#), new: obj(#""a":{"type":"string"}"#, additional: #"{"type":"string"}"#)),
    .init("property removed not covered by partially open model", old: obj(#""a":{"type":"string"},"b":{"type":"integer"}"#, additional: #"{"type":"string"}"#), new: obj(#""a":{"type":"string"}"#, additional: #"{"type":"string"}"#), ["TYPE_CHANGED", "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"]),
    // additionalProperties
    .init("additionalProperties true to false", old: obj("", additional: "true"), new: obj("", additional: "false"), ["ADDITIONAL_PROPERTIES_REMOVED"], at: "#/additionalProperties"),
    .init("additionalProperties absent to false", old: obj(""), new: obj("", additional: "false"), ["ADDITIONAL_PROPERTIES_REMOVED"]),
    .init("additionalProperties false to true", old: obj("", additional: "false"), new: obj("", additional: "true")),
    .init("additionalProperties schema widened", old: obj("", additional: #"{"type":"string"}"#), new: obj("", additional: #"{"type":["string","null"]}"#)),
    .init("additionalProperties schema narrowed", old: obj("", additional: #"{"type":["string","null"]}"#), new: obj("", additional: #"{"type":"string"}"#), ["TYPE_NARROWED"], at: "#/additionalProperties"),
    .init("additionalProperties open to schema", old: obj(""), new: obj("", additional: #"{"type":"string"}"#), ["ADDITIONAL_PROPERTIES_NARROWED"]),
    // String constraints
    .init("maxLength decreased", old: #"{"type":"string","maxLength":10}"#, new: #"{"type":"string","maxLength":5}"#, ["MAX_LENGTH_DECREASED"]),
    .init("maxLength increased", old: #"{"type":"string","maxLength":5}"#, new: #"{"type":"string","maxLength":10}"#),
    .init("maxLength added", old: #"{"type":"string"}"#, new: #"{"type":"string","maxLength":5}"#, ["MAX_LENGTH_ADDED"]),
    .init("maxLength removed", old: #"{"type":"string","maxLength":5}"#, new: #"{"type":"string"}"#),
    .init("minLength increased", old: #"{"type":"string","minLength":1}"#, new: #"{"type":"string","minLength":3}"#, ["MIN_LENGTH_INCREASED"]),
    .init("minLength decreased", old: #"{"type":"string","minLength":3}"#, new: #"{"type":"string","minLength":1}"#),
    .init("minLength added", old: #"{"type":"string"}"#, new: #"{"type":"string","minLength":1}"#, ["MIN_LENGTH_ADDED"]),
    .init("minLength removed", old: #"{"type":"string","minLength":1}"#, new: #"{"type":"string"}"#),
    .init("pattern added", old: #"{"type":"string"}"#, new: #"{"type":"string","pattern":"^a"}"#, ["PATTERN_ADDED"]),
    .init("pattern changed", old: #"{"type":"string","pattern":"^a"}"#, new: #"{"type":"string","pattern":"^b"}"#, ["PATTERN_CHANGED"]),
    .init("pattern removed", old: #"{"type":"string","pattern":"^a"}"#, new: #"{"type":"string"}"#),
    // Numeric constraints
    .init("maximum decreased", old: #"{"type":"number","maximum":100}"#, new: #"{"type":"number","maximum":50}"#, ["MAXIMUM_DECREASED"]),
    .init("maximum increased", old: #"{"type":"number","maximum":50}"#, new: #"{"type":"number","maximum":100}"#),
    .init("maximum added", old: #"{"type":"number"}"#, new: #"{"type":"number","maximum":1}"#, ["MAXIMUM_ADDED"]),
    .init("maximum removed", old: #"{"type":"number","maximum":1}"#, new: #"{"type":"number"}"#),
    .init("minimum increased", old: #"{"type":"integer","minimum":0}"#, new: #"{"type":"integer","minimum":10}"#, ["MINIMUM_INCREASED"]),
    .init("minimum decreased", old: #"{"type":"integer","minimum":10}"#, new: #"{"type":"integer","minimum":0}"#),
    .init("minimum added", old: #"{"type":"integer"}"#, new: #"{"type":"integer","minimum":0}"#, ["MINIMUM_ADDED"]),
    .init("exclusiveMaximum decreased", old: #"{"type":"number","exclusiveMaximum":10}"#, new: #"{"type":"number","exclusiveMaximum":5}"#, ["EXCLUSIVE_MAXIMUM_DECREASED"]),
    .init("exclusiveMinimum removed", old: #"{"type":"number","exclusiveMinimum":5}"#, new: #"{"type":"number"}"#),
    .init("draft-04 exclusiveMinimum increased", old: #"{"type":"number","minimum":1,"exclusiveMinimum":true}"#, new: #"{"type":"number","minimum":2,"exclusiveMinimum":true}"#, ["EXCLUSIVE_MINIMUM_INCREASED"]),
    .init("multipleOf expanded", old: #"{"type":"integer","multipleOf":2}"#, new: #"{"type":"integer","multipleOf":4}"#, ["MULTIPLE_OF_EXPANDED"]),
    .init("multipleOf reduced", old: #"{"type":"integer","multipleOf":4}"#, new: #"{"type":"integer","multipleOf":2}"#),
    .init("multipleOf changed", old: #"{"type":"integer","multipleOf":2}"#, new: #"{"type":"integer","multipleOf":3}"#, ["MULTIPLE_OF_CHANGED"]),
    .init("multipleOf added", old: #"{"type":"number"}"#, new: #"{"type":"number","multipleOf":0.5}"#, ["MULTIPLE_OF_ADDED"]),
    // Arrays
    .init("items widened", old: #"{"type":"array","items":{"type":"string"}}"#, new: #"{"type":"array","items":{"type":["string","null"]}}"#),
    .init("items narrowed", old: #"{"type":"array","items":{"type":["string","null"]}}"#, new: #"{"type":"array","items":{"type":"string"}}"#, ["TYPE_NARROWED"], at: "#/items"),
    .init("items schema added", old: #"{"type":"array"}"#, new: #"{"type":"array","items":{"type":"string"}}"#, ["SCHEMA_ADDED"], at: "#/items"),  // Confluent's kind
    .init("items schema removed", old: #"{"type":"array","items":{"type":"string"}}"#, new: #"{"type":"array"}"#),
    .init("maxItems decreased", old: #"{"type":"array","maxItems":5}"#, new: #"{"type":"array","maxItems":2}"#, ["MAX_ITEMS_DECREASED"]),
    .init("maxItems increased", old: #"{"type":"array","maxItems":2}"#, new: #"{"type":"array","maxItems":5}"#),
    .init("minItems increased", old: #"{"type":"array","minItems":0}"#, new: #"{"type":"array","minItems":1}"#, ["MIN_ITEMS_INCREASED"]),
    .init("minItems removed", old: #"{"type":"array","minItems":1}"#, new: #"{"type":"array"}"#),
    .init("uniqueItems added", old: #"{"type":"array"}"#, new: #"{"type":"array","uniqueItems":true}"#, ["UNIQUE_ITEMS_ADDED"]),
    .init("uniqueItems removed", old: #"{"type":"array","uniqueItems":true}"#, new: #"{"type":"array"}"#),
    .init("tuple item added to closed tuple", old: #"{"type":"array","items":[{"type":"string"}],"additionalItems":false}"#, new: #"{"type":"array","items":[{"type":"string"},{"type":"integer"}],"additionalItems":false}"#),
    .init("tuple item added to open tuple", old: #"{"type":"array","items":[{"type":"string"}]}"#, new: #"{"type":"array","items":[{"type":"string"},{"type":"integer"}]}"#, ["ITEM_ADDED_TO_OPEN_CONTENT_MODEL"], at: "#/items/1"),
    .init("tuple item removed from closed tuple", old: #"{"type":"array","items":[{"type":"string"},{"type":"integer"}],"additionalItems":false}"#, new: #"{"type":"array","items":[{"type":"string"}],"additionalItems":false}"#, ["ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL"]),
    .init("tuple item removed from open tuple", old: #"{"type":"array","items":[{"type":"string"},{"type":"integer"}]}"#, new: #"{"type":"array","items":[{"type":"string"}]}"#),
    .init("prefixItems item narrowed", old: #"{"type":"array","prefixItems":[{"type":["string","null"]}]}"#, new: #"{"type":"array","prefixItems":[{"type":"string"}]}"#, ["TYPE_NARROWED"], at: "#/items/0"),
    // Enum and const
    .init("enum values added", old: #"{"enum":["a","b"]}"#, new: #"{"enum":["a","b","c"]}"#),
    .init("enum values removed", old: #"{"enum":["a","b"]}"#, new: #"{"enum":["a"]}"#, ["ENUM_ARRAY_NARROWED"]),
    .init("enum values changed", old: #"{"enum":["a","b"]}"#, new: #"{"enum":["a","c"]}"#, ["ENUM_ARRAY_CHANGED"]),
    .init("enum added", old: #"{"type":"string"}"#, new: #"{"type":"string","enum":["a"]}"#, ["ENUM_ARRAY_NARROWED"]),
    .init("enum numerically equal values", old: #"{"enum":[1,2]}"#, new: #"{"enum":[1.0,2,3]}"#),
    .init("const changed", old: #"{"const":"a"}"#, new: #"{"const":"b"}"#, ["ENUM_ARRAY_CHANGED"]),
    .init("const removed", old: #"{"const":"a"}"#, new: #"{}"#),
    // Combinators
    .init("oneOf branch added", old: #"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#, new: #"{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]}"#),
    .init("oneOf branch removed", old: #"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#, new: #"{"oneOf":[{"type":"string"}]}"#, ["SUM_TYPE_NARROWED"], at: "#/"),  // Confluent reports it at the combined schema
    .init("anyOf branch removed", old: #"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#, new: #"{"anyOf":[{"type":"integer"}]}"#, ["SUM_TYPE_NARROWED"]),
    .init("anyOf branches reordered", old: #"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#, new: #"{"anyOf":[{"type":"integer"},{"type":"string"}]}"#),
    .init("anyOf branch changed incompatibly", old: #"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#, new: #"{"anyOf":[{"type":"string","maxLength":3},{"type":"integer"}]}"#, ["COMBINED_TYPE_SUBSCHEMAS_CHANGED"]),
    .init("single type becomes oneOf including it", old: #"{"type":"string"}"#, new: #"{"oneOf":[{"type":"string"},{"type":"null"}]}"#),
    .init("oneOf collapsed to one of its types", old: #"{"oneOf":[{"type":"string"},{"type":"null"}]}"#, new: #"{"type":"string"}"#, ["TYPE_CHANGED"]),  // Confluent: a oneOf of several replaced by a non-combined schema
    .init("allOf subschema added", old: #"{"allOf":[{"type":"string"}]}"#, new: #"{"allOf":[{"type":"string"},{"maxLength":3}]}"#, ["PRODUCT_TYPE_EXTENDED"]),
    .init("allOf subschema removed", old: #"{"allOf":[{"type":"string"},{"maxLength":3}]}"#, new: #"{"allOf":[{"type":"string"}]}"#),
    .init("not added", old: #"{"type":"string"}"#, new: #"{"type":"string","not":{"const":"x"}}"#, ["NOT_TYPE_EXTENDED"]),
    .init("not removed", old: #"{"type":"string","not":{"const":"x"}}"#, new: #"{"type":"string"}"#),
    .init("not narrowed", old: #"{"not":{"type":["string","null"]}}"#, new: #"{"not":{"type":"string"}}"#),
    .init("not widened", old: #"{"not":{"type":"string"}}"#, new: #"{"not":{"type":["string","null"]}}"#, ["NOT_TYPE_EXTENDED"]),
    // References and recursion
    .init("definitions ref narrowed", old: #"{"type":"object","properties":{"a":{"$ref":"\u0023/definitions/A"}},"definitions":{"A":{"type":["string","null"]}}}"#, new: #"{"type":"object","properties":{"a":{"$ref":"\u0023/definitions/A"}},"definitions":{"A":{"type":"string"}}}"#, ["TYPE_NARROWED"], at: "#/properties/a"),
    .init("$defs ref unchanged", old: #"{"type":"object","properties":{"a":{"$ref":"\u0023/$defs/A"}},"$defs":{"A":{"type":"string"}}}"#, new: #"{"type":"object","properties":{"a":{"$ref":"\u0023/$defs/A"}},"$defs":{"A":{"type":"string"}}}"#),
    .init("ref replaced by inline equivalent", old: #"{"type":"object","properties":{"a":{"$ref":"\u0023/$defs/A"}},"$defs":{"A":{"type":"string"}}}"#, new: #"{"type":"object","properties":{"a":{"type":"string"}}}"#),
    .init("recursive tree unchanged", old: treeOld, new: treeSame),
    .init("recursive tree widened", old: treeOld, new: treeWide),
    .init("recursive tree narrowed", old: treeOld, new: treeNarrow, ["TYPE_NARROWED", "TYPE_NARROWED"], at: "#/properties/value"),  // also at the recursion, #/properties/children/items/properties/value
    // Boolean schemas and nesting
    .init("true to false", old: "true", new: "false", ["TYPE_CHANGED"]),  // Confluent: TrueSchema -> FalseSchema
    .init("false to true", old: "false", new: "true"),
    .init("deeply nested maxLength decreased", old: obj(#""address":\#(obj(#""zip":{"type":"string","maxLength":10}"#))"#), new: obj(#""address":\#(obj(#""zip":{"type":"string","maxLength":5}"#))"#), ["MAX_LENGTH_DECREASED"], at: "#/properties/address/properties/zip"),
    // Families following Confluent's SchemaDiff / ArraySchemaDiff / ObjectSchemaDiff rules (json-schema-provider).
    .init("all-items schema becomes a tuple", old: #"{"type":"array","items":{"type":"string"}}"#, new: #"{"type":"array","items":[{"type":"string"}]}"#, ["ITEM_ADDED_TO_OPEN_CONTENT_MODEL"], at: "#/items/0"),
    .init("tuple becomes an all-items schema", old: #"{"type":"array","items":[{"type":"string"}]}"#, new: #"{"type":"array","items":{"type":"string"}}"#, ["SCHEMA_ADDED"], at: "#/items"),
    .init("prefixItems become an all-items schema", old: #"{"type":"array","prefixItems":[{"type":"string"}]}"#, new: #"{"type":"array","items":{"type":"string"}}"#, ["SCHEMA_ADDED"], at: "#/items"),
    .init("items true to false", old: #"{"type":"array","items":true}"#, new: #"{"type":"array","items":false}"#, ["ADDITIONAL_ITEMS_REMOVED"], at: "#/additionalItems"),
    .init("property schema true to false", old: obj(#""a":true"#), new: obj(#""a":false"#), ["TYPE_CHANGED"], at: "#/properties/a"),
    .init("property schema false to string", old: obj(#""a":false"#), new: obj(#""a":{"type":"string"}"#)),
    .init("property true added to open model", old: obj(""), new: obj(#""a":true"#)),
    .init("required property added to open model", old: obj(""), new: obj(#""a":{"type":"string"}"#, required: ["a"]), ["REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"]),
    .init("property removed, no pattern matches", old: #"{"properties":{"a":{"type":"string"}},"patternProperties":{"^x":{"type":"string"}}}"#, new: #"{"patternProperties":{"^x":{"type":"string"}}}"#, ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"]),
    .init("property removed, covered by a pattern", old: #"{"properties":{"xa":{"type":"string"}},"additionalProperties":false}"#, new: #"{"patternProperties":{"^x":{"type":["string","null"]}},"additionalProperties":false}"#),
    .init("property added, not covered by a pattern", old: #"{"patternProperties":{"^x":{"type":"string"}}}"#, new: #"{"properties":{"xa":{"type":"integer"}},"patternProperties":{"^x":{"type":"string"}}}"#, ["TYPE_CHANGED", "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"]),
    .init("single anyOf accepting the schema", old: #"{"type":"string"}"#, new: #"{"anyOf":[{"type":["string","null"]}]}"#),
    .init("single oneOf rejecting the schema", old: #"{"type":"string"}"#, new: #"{"oneOf":[{"type":"string","maxLength":3}]}"#, ["TYPE_CHANGED"]),
    .init("single allOf replaced by its subschema", old: #"{"allOf":[{"type":"string"}]}"#, new: #"{"type":"string"}"#),
    .init("annotations only changed", old: #"{"type":"string","title":"a","description":"x"}"#, new: #"{"type":"string","title":"b","description":"y"}"#),
]

@Suite struct JSONSchemaCompatibilityTests {
    @Test func tableIsLargeEnough() { #expect(jsonSchemaCases.count >= 40) }

    @Test(arguments: jsonSchemaCases)
    func backward(_ c: JSONSchemaCase) throws {
        let old = try JSONSchema.parse(c.old)
        let new = try JSONSchema.parse(c.new)
        let found = JSONSchemaCompatibility.check(reader: new, writer: old)
        #expect(found.map(\.type.rawValue) == c.backward, "\(found)")
        if let path = c.path { #expect(found.first?.path == path, "\(found)") }
        // The level API agrees with the pairwise check.
        let r = JSONSchemaCompatibility.checkCompatibility(new: new, previous: [old], level: .backward)
        #expect(r.isCompatible == c.backward.isEmpty)
    }

    @Test func identicalSchemasHaveNoDifferences() throws {
        for c in jsonSchemaCases {
            let s = try JSONSchema.parse(c.old)
            #expect(JSONSchemaCompatibility.diff(original: s, update: s).isEmpty, "\(c.label)")
        }
    }

    @Test func forwardIsTheReverseDirection() throws {
        let old = try JSONSchema.parse(#"{"type":"string"}"#)
        let new = try JSONSchema.parse(#"{"type":["string","null"]}"#)
        #expect(JSONSchemaCompatibility.checkCompatibility(new: new, previous: [old], level: .backward).isCompatible)
        let f = JSONSchemaCompatibility.checkCompatibility(new: new, previous: [old], level: .forward)
        #expect(f.issues.map(\.errorType) == ["TYPE_NARROWED"])
        #expect(f.messages.first?.hasPrefix("{errorType:'TYPE_NARROWED', description:'") == true)
        #expect(f.messages.last == "{compatibility: 'FORWARD'}")
        #expect(!JSONSchemaCompatibility.checkCompatibility(new: new, previous: [old], level: .full).isCompatible)
    }

    @Test func compatibleDifferencesAreReported() throws {
        let d = JSONSchemaCompatibility.diff(original: try JSONSchema.parse(#"{"type":"string","maxLength":5}"#),
                                             update: try JSONSchema.parse(#"{"type":"string","maxLength":9}"#))
        #expect(d.map(\.type) == [.maxLengthIncreased])
        #expect(d.first?.isCompatible == true)
        #expect(d.first?.detail == "maxLength 5 -> 9")
    }

    @Test func transitiveLevels() throws {
        let nullable = #"{"type":"object","properties":{"a":{"type":["string","null"]}}}"#
        let strict = #"{"type":"object","properties":{"a":{"type":"string"}}}"#
        let p = { (s: String) throws -> JSONSchema in try JSONSchema.parse(s) }
        // Backward: history [nullable, strict], new strict -> only transitive fails.
        let bh = [try p(nullable), try p(strict)]
        #expect(JSONSchemaCompatibility.checkCompatibility(new: try p(strict), previous: bh, level: .backward).isCompatible)
        let bt = JSONSchemaCompatibility.checkCompatibility(new: try p(strict), previous: bh, level: .backwardTransitive)
        #expect(bt.issues.map(\.path) == ["#/properties/a"])
        #expect(bt.failedAgainstIndex == 0)
        // Forward/full: history [strict, nullable], new nullable -> only transitive fails.
        let fh = [try p(strict), try p(nullable)]
        for (plain, transitive) in [(CompatibilityLevel.forward, CompatibilityLevel.forwardTransitive), (.full, .fullTransitive)] {
            #expect(JSONSchemaCompatibility.checkCompatibility(new: try p(nullable), previous: fh, level: plain).isCompatible)
            #expect(!JSONSchemaCompatibility.checkCompatibility(new: try p(nullable), previous: fh, level: transitive).isCompatible)
        }
    }
}

struct JSONSchemaErrorCase: Sendable, CustomStringConvertible {
    let schema: String
    let kind: JSONSchemaError.Kind
    var description: String { schema }
}

@Suite struct JSONSchemaParserTests {
    @Test(arguments: [
        JSONSchemaErrorCase(schema: "{", kind: .invalidJSON),
        JSONSchemaErrorCase(schema: "3", kind: .invalidSchema),
        JSONSchemaErrorCase(schema: #"{"type":"text"}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"type":3}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"type":["string",1]}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"required":"a"}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"properties":[]}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"properties":{"a":1}}"#, kind: .invalidSchema),
        JSONSchemaErrorCase(schema: #"{"maxLength":-1}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"maxLength":1.5}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"minimum":"0"}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"multipleOf":0}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"pattern":1}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"enum":"a"}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"oneOf":[]}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"uniqueItems":"yes"}"#, kind: .invalidKeyword),
        JSONSchemaErrorCase(schema: #"{"$ref":"\u0023/definitions/Missing"}"#, kind: .unresolvableReference),
        JSONSchemaErrorCase(schema: #"{"$ref":"other.json#/A"}"#, kind: .unsupportedReference),
        JSONSchemaErrorCase(schema: #"{"$ref":"\u0023/definitions/A","definitions":{"A":{"$ref":"\u0023/definitions/B"},"B":{"$ref":"\u0023/definitions/A"}}}"#, kind: .unsupportedReference),
        JSONSchemaErrorCase(schema: #"{"definitions":{"A":{"type":"nope"}}}"#, kind: .invalidKeyword),
    ])
    func rejects(_ c: JSONSchemaErrorCase) {
        do {
            _ = try JSONSchema.parse(c.schema)
            Issue.record("expected \(c.kind)")
        } catch {
            #expect(error.kind == c.kind, "\(error)")
        }
    }

    @Test func errorPathsPointAtTheKeyword() {
        do { _ = try JSONSchema.parse(#"{"properties":{"a/b":{"maxLength":-2}}}"#); Issue.record("no error") } catch {
            #expect(error.path == "#/properties/a~1b/maxLength")
        }
    }

    @Test func parsesModel() throws {
        let s = try JSONSchema.parse(#"""
        {"type":["object","null"],"properties":{"b":{"type":"string"},"a":{"$ref":"\u0023/$defs/A"}},"required":["a"],
         "additionalProperties":{"type":"integer"},"$defs":{"A":{"type":"array","items":[{"type":"string"}],"additionalItems":false}},
         "minProperties":1,"not":{"const":null}}
        """#)
        guard case .object(let o) = s.root else { Issue.record("root not object"); return }
        #expect(o.types == [.object, .null])
        #expect(o.propertyOrder == ["b", "a"])
        #expect(o.required == ["a"])
        #expect(o.minProperties == 1)
        guard case .object(let a) = s.dereference(o.properties["a"] ?? .boolean(true)) else { Issue.record("ref not resolved"); return }
        #expect(a.isTuple && a.prefixItems.count == 1 && a.restItems == .boolean(false))
        #expect(s.canonicalString.hasPrefix(#"{"$defs":{"A":{"additionalItems":false,"items":[{"type":"string"}],"type":"array"}}"#))
    }

    @Test func pointerEscapesAndRootRef() throws {
        let s = try JSONSchema.parse(#"{"type":"object","properties":{"self":{"$ref":"\u0023"},"x":{"$ref":"\u0023/definitions/a~1b"}},"definitions":{"a/b":{"type":"string"}}}"#)
        #expect(s.refTargets.keys.sorted() == ["#", "#/definitions/a~1b"])
        #expect(JSONSchemaCompatibility.diff(original: s, update: s).isEmpty)
    }
}
