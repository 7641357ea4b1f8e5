import Testing
import Foundation
@testable import SkeinSchemas

/// One reader/writer resolution case. `expected` lists the incompatibility types (empty = compatible);
/// `location`, when given, is the location of the first incompatibility.
struct ResolutionCase: Sendable, CustomStringConvertible {
    let label: String
    let reader: String
    let writer: String
    let expected: [AvroIncompatibilityType]
    let location: String?
    init(_ label: String, reader: String, writer: String, _ expected: [AvroIncompatibilityType] = [], at location: String? = nil) {
        self.label = label
        self.reader = reader
        self.writer = writer
        self.expected = expected
        self.location = location
    }
    var description: String { label }
}

// MARK: - Schema builders

private func q(_ s: String) -> String { "\"\(s)\"" }

/// A record named `name` with the given field JSON fragments.
private func record(_ name: String, _ fields: String..., extra: String = "") -> String {
    #"{"type":"record","name":"\#(name)"\#(extra),"fields":[\#(fields.joined(separator: ","))]}"#
}

/// A field fragment; `def` is raw JSON.
private func fld(_ name: String, _ type: String, _ def: String? = nil, aliases: [String] = []) -> String {
    var s = #"{"name":"\#(name)","type":\#(type)"#
    if let def { s += #","default":\#(def)"# }
    if !aliases.isEmpty { s += #","aliases":[\#(aliases.map(q).joined(separator: ","))]"# }
    return s + "}"
}

private func enumType(_ name: String, _ symbols: [String], default def: String? = nil, extra: String = "") -> String {
    var s = #"{"type":"enum","name":"\#(name)","symbols":[\#(symbols.map(q).joined(separator: ","))]"#
    if let def { s += #","default":"\#(def)""# }
    return s + extra + "}"
}

private func fixedType(_ name: String, _ size: Int, extra: String = "") -> String {
    #"{"type":"fixed","name":"\#(name)","size":\#(size)\#(extra)}"#
}

private func array(_ items: String) -> String { #"{"type":"array","items":\#(items)}"# }
private func map(_ values: String) -> String { #"{"type":"map","values":\#(values)}"# }
private func p(_ name: String) -> String { q(name) }

private let linkedList = #"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]}]}"#
private let linkedListInt = #"{"type":"record","name":"LongList","fields":[{"name":"value","type":"int"},{"name":"next","type":["null","LongList"]}]}"#
private let linkedListExtraDefault = #"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]},{"name":"label","type":"string","default":""}]}"#
private let linkedListExtraNoDefault = #"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]},{"name":"label","type":"string"}]}"#
private let tree = #"{"type":"record","name":"Tree","fields":[{"name":"v","type":"int"},{"name":"kids","type":{"type":"array","items":"Tree"}}]}"#
private let treeLong = #"{"type":"record","name":"Tree","fields":[{"name":"v","type":"long"},{"name":"kids","type":{"type":"array","items":"Tree"}}]}"#
private let mutualAB = #"{"type":"record","name":"A","fields":[{"name":"b","type":["null",{"type":"record","name":"B","fields":[{"name":"a","type":["null","A"]}]}]}]}"#
private let mutualABExtra = #"{"type":"record","name":"A","fields":[{"name":"b","type":["null",{"type":"record","name":"B","fields":[{"name":"a","type":["null","A"]},{"name":"n","type":"int"}]}]}]}"#

// MARK: - Primitive table

private let primitives = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
/// Promotions listed in the specification ("writer's schema may be promoted to the reader's"), as (reader, writer).
private let promotions: Set<String> = ["long<int", "float<int", "float<long", "double<int", "double<long", "double<float", "bytes<string", "string<bytes"]

let primitiveCases: [ResolutionCase] = primitives.flatMap { r in
    primitives.map { w in
        let ok = r == w || promotions.contains("\(r)<\(w)")
        return ResolutionCase("primitive reader \(r) / writer \(w)", reader: q(r), writer: q(w), ok ? [] : [.typeMismatch], at: ok ? nil : "/")
    }
}

// MARK: - Structured table

let structuredCases: [ResolutionCase] = [
    // Records and fields
    .init("identical records", reader: record("R", fld("a", p("int"))), writer: record("R", fld("a", p("int")))),
    .init("reader adds field with default", reader: record("R", fld("a", p("int")), fld("b", p("string"), #""x""#)), writer: record("R", fld("a", p("int")))),
    .init("reader adds field without default", reader: record("R", fld("a", p("int")), fld("b", p("string"))), writer: record("R", fld("a", p("int"))), [.readerFieldMissingDefaultValue], at: "/fields/1"),
    .init("reader drops writer field", reader: record("R", fld("a", p("int"))), writer: record("R", fld("a", p("int")), fld("b", p("string")))),
    .init("reader adds optional field with null default", reader: record("R", fld("a", p("int")), fld("o", #"["null","string"]"#, "null")), writer: record("R", fld("a", p("int")))),
    .init("reader adds optional field without default", reader: record("R", fld("a", p("int")), fld("o", #"["null","string"]"#)), writer: record("R", fld("a", p("int"))), [.readerFieldMissingDefaultValue], at: "/fields/1"),
    .init("reader adds field with null default of type null", reader: record("R", fld("n", p("null"), "null")), writer: record("R")),
    .init("field promoted int to long", reader: record("R", fld("a", p("long"))), writer: record("R", fld("a", p("int")))),
    .init("field demoted long to int", reader: record("R", fld("a", p("int"))), writer: record("R", fld("a", p("long"))), [.typeMismatch], at: "/fields/0/type"),
    .init("field string to int", reader: record("R", fld("x", p("string")), fld("a", p("int"))), writer: record("R", fld("x", p("string")), fld("a", p("string"))), [.typeMismatch], at: "/fields/1/type"),
    .init("record names differ", reader: record("R", fld("a", p("int"))), writer: record("S", fld("a", p("int"))), [.nameMismatch], at: "/name"),
    .init("record same simple name, different namespaces", reader: record("a.R", fld("a", p("int"))), writer: record("b.R", fld("a", p("int")))),
    .init("record reader alias matches writer full name", reader: record("R", fld("a", p("int")), extra: #","namespace":"n","aliases":["Old"]"#), writer: record("n.Old", fld("a", p("int")))),
    .init("record reader alias in other namespace", reader: record("R", fld("a", p("int")), extra: #","namespace":"n","aliases":["Old"]"#), writer: record("o.Old", fld("a", p("int"))), [.nameMismatch], at: "/name"),
    .init("record writer alias does not help", reader: record("R"), writer: record("S", extra: #","aliases":["R"]"#), [.nameMismatch]),
    .init("field matched by reader alias", reader: record("R", fld("fullName", p("string"), aliases: ["name"])), writer: record("R", fld("name", p("string")))),
    .init("field matched by alias with promotion", reader: record("R", fld("n", p("double"), aliases: ["old"])), writer: record("R", fld("old", p("float")))),
    .init("field matched by alias with wrong type", reader: record("R", fld("fullName", p("int"), aliases: ["name"])), writer: record("R", fld("name", p("string"))), [.typeMismatch], at: "/fields/0/type"),
    .init("field exact name preferred over alias", reader: record("R", fld("a", p("int"), aliases: ["b"])), writer: record("R", fld("b", p("string")), fld("a", p("int")))),
    .init("writer field alias does not match reader field", reader: record("R", fld("a", p("int"))), writer: record("R", fld("b", p("int"), aliases: ["a"])), [.readerFieldMissingDefaultValue], at: "/fields/0"),
    .init("fields reordered", reader: record("R", fld("b", p("string")), fld("a", p("int"))), writer: record("R", fld("a", p("int")), fld("b", p("string")))),
    .init("two reader fields missing defaults", reader: record("R", fld("a", p("int")), fld("b", p("int"))), writer: record("R"), [.readerFieldMissingDefaultValue, .readerFieldMissingDefaultValue], at: "/fields/0"),
    .init("empty records", reader: record("R"), writer: record("R")),
    .init("nested record gains field without default", reader: record("R", fld("in", record("I", fld("x", p("int")), fld("y", p("int"))))), writer: record("R", fld("in", record("I", fld("x", p("int"))))), [.readerFieldMissingDefaultValue], at: "/fields/0/type/fields/1"),
    .init("nested record gains field with default", reader: record("R", fld("in", record("I", fld("x", p("int")), fld("y", p("int"), "0")))), writer: record("R", fld("in", record("I", fld("x", p("int")))))),
    .init("nested record renamed", reader: record("R", fld("in", record("I", fld("x", p("int"))))), writer: record("R", fld("in", record("J", fld("x", p("int"))))), [.nameMismatch], at: "/fields/0/type/name"),
    .init("nested record field type changed", reader: record("R", fld("in", record("I", fld("x", p("boolean"))))), writer: record("R", fld("in", record("I", fld("x", p("int"))))), [.typeMismatch], at: "/fields/0/type/fields/0/type"),
    .init("record vs map", reader: record("R"), writer: map(p("int")), [.typeMismatch], at: "/"),
    .init("record vs string", reader: record("R"), writer: p("string"), [.typeMismatch]),
    .init("record named and renamed and field missing", reader: record("R", fld("a", p("int"))), writer: record("S"), [.nameMismatch, .readerFieldMissingDefaultValue]),
    // Enums
    .init("identical enums", reader: enumType("E", ["A", "B"]), writer: enumType("E", ["A", "B"])),
    .init("reader enum adds symbol", reader: enumType("E", ["A", "B", "C"]), writer: enumType("E", ["A", "B"])),
    .init("reader enum lacks writer symbol", reader: enumType("E", ["A"]), writer: enumType("E", ["A", "B"]), [.missingEnumSymbols], at: "/symbols"),
    .init("reader enum lacks symbol but has default", reader: enumType("E", ["A", "U"], default: "U"), writer: enumType("E", ["A", "B"])),
    .init("writer default does not help reader", reader: enumType("E", ["A"]), writer: enumType("E", ["A", "B"], default: "A"), [.missingEnumSymbols]),
    .init("enum names differ", reader: enumType("E", ["A"]), writer: enumType("F", ["A"]), [.nameMismatch], at: "/name"),
    .init("enum reader alias", reader: enumType("E", ["A"], extra: #","aliases":["F"]"#), writer: enumType("F", ["A"])),
    .init("enum symbols reordered", reader: enumType("E", ["B", "A"]), writer: enumType("E", ["A", "B"])),
    .init("enum in field loses symbols", reader: record("R", fld("e", enumType("E", ["A"]))), writer: record("R", fld("e", enumType("E", ["A", "B", "C"]))), [.missingEnumSymbols], at: "/fields/0/type/symbols"),
    .init("enum vs string", reader: enumType("E", ["A"]), writer: p("string"), [.typeMismatch]),
    .init("string vs enum", reader: p("string"), writer: enumType("E", ["A"]), [.typeMismatch]),
    // Fixed
    .init("identical fixed", reader: fixedType("F", 4), writer: fixedType("F", 4)),
    .init("fixed size differs", reader: fixedType("F", 4), writer: fixedType("F", 8), [.fixedSizeMismatch], at: "/size"),
    .init("fixed name differs", reader: fixedType("F", 4), writer: fixedType("G", 4), [.nameMismatch], at: "/name"),
    .init("fixed name and size differ", reader: fixedType("F", 4), writer: fixedType("G", 8), [.nameMismatch, .fixedSizeMismatch]),
    .init("fixed vs bytes", reader: fixedType("F", 4), writer: p("bytes"), [.typeMismatch]),
    .init("bytes vs fixed", reader: p("bytes"), writer: fixedType("F", 4), [.typeMismatch]),
    .init("fixed reader alias", reader: fixedType("F", 4, extra: #","aliases":["G"]"#), writer: fixedType("G", 4)),
    .init("fixed decimal annotations ignored", reader: fixedType("F", 4, extra: #","logicalType":"decimal","precision":5"#), writer: fixedType("F", 4)),
    // Arrays
    .init("arrays same items", reader: array(p("int")), writer: array(p("int"))),
    .init("array items promoted", reader: array(p("long")), writer: array(p("int"))),
    .init("array items demoted", reader: array(p("int")), writer: array(p("long")), [.typeMismatch], at: "/items"),
    .init("array vs map", reader: array(p("int")), writer: map(p("int")), [.typeMismatch], at: "/"),
    .init("array of records gains field", reader: array(record("I", fld("x", p("int")), fld("y", p("int")))), writer: array(record("I", fld("x", p("int")))), [.readerFieldMissingDefaultValue], at: "/items/fields/1"),
    .init("array of arrays", reader: array(array(p("double"))), writer: array(array(p("float")))),
    .init("array of arrays mismatch", reader: array(array(p("float"))), writer: array(array(p("double"))), [.typeMismatch], at: "/items/items"),
    // Maps
    .init("maps same values", reader: map(p("string")), writer: map(p("string"))),
    .init("map values promoted", reader: map(p("double")), writer: map(p("float"))),
    .init("map values mismatch", reader: map(p("string")), writer: map(p("int")), [.typeMismatch], at: "/values"),
    .init("map vs record", reader: map(p("int")), writer: record("R"), [.typeMismatch]),
    .init("map of enums loses symbol", reader: map(enumType("E", ["A"])), writer: map(enumType("E", ["A", "B"])), [.missingEnumSymbols], at: "/values/symbols"),
    // Unions
    .init("reader union includes writer type", reader: #"["null","string"]"#, writer: p("string")),
    .init("reader union lacks writer type", reader: #"["null","string"]"#, writer: p("int"), [.missingUnionBranch], at: "/"),
    .init("reader union branch by promotion", reader: #"["null","long"]"#, writer: p("int")),
    .init("reader union branch by bytes/string", reader: #"["null","bytes"]"#, writer: p("string")),
    .init("writer union into non-union reader", reader: p("string"), writer: #"["null","string"]"#, [.typeMismatch]),
    .init("writer union all promotable to reader", reader: p("double"), writer: #"["int","long","float"]"#),
    .init("writer union with unpromotable branch", reader: p("int"), writer: #"["int","long"]"#, [.typeMismatch]),
    .init("same unions", reader: #"["null","string"]"#, writer: #"["null","string"]"#),
    .init("unions reordered", reader: #"["string","null"]"#, writer: #"["null","string"]"#),
    .init("writer union has extra branch", reader: #"["null","string"]"#, writer: #"["null","string","int"]"#, [.missingUnionBranch], at: "/2"),
    .init("reader union has extra branch", reader: #"["null","string","int"]"#, writer: #"["null","string"]"#),
    .init("union to union with promotions", reader: #"["null","double"]"#, writer: #"["null","int","long","float"]"#),
    .init("optional field made required in reader", reader: record("R", fld("f", p("string"))), writer: record("R", fld("f", #"["null","string"]"#, "null")), [.typeMismatch], at: "/fields/0/type"),
    .init("required field made optional in reader", reader: record("R", fld("f", #"["null","string"]"#, "null")), writer: record("R", fld("f", p("string")))),
    .init("optional field added to reader", reader: record("R", fld("a", p("int")), fld("f", #"["null","string"]"#, "null")), writer: record("R", fld("a", p("int")))),
    .init("optional field removed from reader", reader: record("R", fld("a", p("int"))), writer: record("R", fld("a", p("int")), fld("f", #"["null","string"]"#, "null"))),
    .init("optional field type widened", reader: record("R", fld("f", #"["null","long"]"#, "null")), writer: record("R", fld("f", #"["null","int"]"#, "null"))),
    .init("optional field type narrowed", reader: record("R", fld("f", #"["null","int"]"#, "null")), writer: record("R", fld("f", #"["null","long"]"#, "null")), [.missingUnionBranch], at: "/fields/0/type/1"),
    .init("reader union contains writer record", reader: #"["null",\#(record("R", fld("a", p("int"))))]"#, writer: record("R", fld("a", p("int")))),
    .init("reader union lacks writer record name", reader: #"["null",\#(record("A"))]"#, writer: record("B"), [.missingUnionBranch]),
    .init("reader union record branch incompatible", reader: #"["null",\#(record("R", fld("a", p("int")), fld("b", p("int"))))]"#, writer: record("R", fld("a", p("int"))), [.missingUnionBranch]),
    .init("reader union enum branch lacks symbol", reader: #"["null",\#(enumType("E", ["A"]))]"#, writer: enumType("E", ["A", "B"]), [.missingUnionBranch]),
    .init("reader union with array branch", reader: #"["null",\#(array(p("long")))]"#, writer: array(p("int"))),
    .init("reader union with map branch mismatch", reader: #"["null",\#(map(p("int")))]"#, writer: map(p("string")), [.missingUnionBranch]),
    .init("writer union of records into reader union", reader: #"[\#(record("A")),\#(record("B"))]"#, writer: #"[\#(record("B")),\#(record("A"))]"#),
    .init("writer union of records, reader misses one", reader: #"[\#(record("A"))]"#, writer: #"[\#(record("A")),\#(record("B"))]"#, [.missingUnionBranch], at: "/1"),
    .init("writer null-only union into optional", reader: #"["null","string"]"#, writer: #"["null"]"#),
    .init("writer union into fixed reader", reader: fixedType("F", 2), writer: #"["null",\#(fixedType("F", 2))]"#, [.typeMismatch]),
    .init("array of optional widened", reader: array(#"["null","long"]"#), writer: array(#"["null","int"]"#)),
    .init("array of optional loses null", reader: array(p("long")), writer: array(#"["null","int"]"#), [.typeMismatch], at: "/items"),
    // Recursive types
    .init("linked list identical", reader: linkedList, writer: linkedList),
    .init("linked list reader adds defaulted field", reader: linkedListExtraDefault, writer: linkedList),
    .init("linked list reader adds field without default", reader: linkedListExtraNoDefault, writer: linkedList, [.readerFieldMissingDefaultValue], at: "/fields/2"),
    .init("linked list reader drops field", reader: linkedList, writer: linkedListExtraNoDefault),
    .init("linked list value promoted", reader: linkedList, writer: linkedListInt),
    .init("linked list value demoted", reader: linkedListInt, writer: linkedList, [.typeMismatch], at: "/fields/0/type"),
    .init("tree identical", reader: tree, writer: tree),
    .init("tree value promoted", reader: treeLong, writer: tree),
    .init("tree value demoted", reader: tree, writer: treeLong, [.typeMismatch], at: "/fields/0/type"),
    .init("mutual recursion identical", reader: mutualAB, writer: mutualAB),
    .init("mutual recursion reader gains field", reader: mutualABExtra, writer: mutualAB, [.missingUnionBranch], at: "/fields/0/type/1"),
    .init("mutual recursion reader drops field", reader: mutualAB, writer: mutualABExtra),
    // Namespaces
    .init("namespaced records match by simple name", reader: record("User", fld("id", p("long")), extra: #","namespace":"com.a""#), writer: record("User", fld("id", p("long")), extra: #","namespace":"com.b""#)),
    .init("namespaced records with different simple names", reader: record("User", extra: #","namespace":"com.a""#), writer: record("Account", extra: #","namespace":"com.a""#), [.nameMismatch]),
    .init("reader alias with full name", reader: record("com.a.User", extra: #","aliases":["com.b.Account"]"#), writer: record("com.b.Account")),
    .init("nested types inherit namespace", reader: record("n1.R", fld("e", enumType("E", ["A", "B"]))), writer: record("n2.R", fld("e", enumType("E", ["A"])))),
    .init("nested type referenced by short name", reader: record("n.R", fld("e", enumType("E", ["A"])), fld("e2", p("E"))), writer: record("n.R", fld("e", enumType("E", ["A"])), fld("e2", p("n.E")))),
    // Logical types (ignored by resolution)
    .init("date reads int", reader: #"{"type":"int","logicalType":"date"}"#, writer: p("int")),
    .init("timestamp reads int by promotion", reader: #"{"type":"long","logicalType":"timestamp-millis"}"#, writer: p("int")),
    .init("decimal bytes reads string", reader: #"{"type":"bytes","logicalType":"decimal","precision":4}"#, writer: p("string")),
    .init("uuid string reads int", reader: #"{"type":"string","logicalType":"uuid"}"#, writer: p("int"), [.typeMismatch]),
]

@Suite struct AvroCompatibilityTests {
    @Test func tableIsLargeEnough() {
        #expect(primitiveCases.count + structuredCases.count >= 100)
    }

    @Test(arguments: primitiveCases + structuredCases)
    func resolution(_ c: ResolutionCase) throws {
        let reader = try AvroSchema.parse(c.reader)
        let writer = try AvroSchema.parse(c.writer)
        let found = AvroCompatibility.check(reader: reader, writer: writer)
        #expect(found.map(\.type) == c.expected, "\(found)")
        if let location = c.location {
            #expect(found.first?.location == location, "\(found)")
        }
    }

    @Test func messagesNameTheFieldAndRule() throws {
        let reader = try AvroSchema.parse(record("com.acme.User", fld("id", p("long")), fld("email", p("string"))))
        let writer = try AvroSchema.parse(record("com.acme.User", fld("id", p("long"))))
        let found = AvroCompatibility.check(reader: reader, writer: writer)
        #expect(found.count == 1)
        #expect(found.first?.message == #"reader field "email" of record "com.acme.User" has no default and is missing from the writer"#)
        #expect(found.first?.location == "/fields/1")
        #expect(found.first?.fieldName == "email")

        let r2 = try AvroSchema.parse(record("R", fld("age", p("int"))))
        let w2 = try AvroSchema.parse(record("R", fld("age", p("string"))))
        let m = AvroCompatibility.check(reader: r2, writer: w2).first
        #expect(m?.message.contains(#"field "age" of record "R""#) == true)
        #expect(m?.detail == "reader type: INT not compatible with writer type: STRING")
    }

    @Test func enumAndFixedDetails() throws {
        let e = AvroCompatibility.check(reader: try AvroSchema.parse(enumType("E", ["A"])), writer: try AvroSchema.parse(enumType("E", ["A", "C", "D"])))
        #expect(e.first?.detail == "[C, D]")
        let f = AvroCompatibility.check(reader: try AvroSchema.parse(fixedType("F", 4)), writer: try AvroSchema.parse(fixedType("F", 8)))
        #expect(f.first?.detail == "expected: 8, found: 4")
        let n = AvroCompatibility.check(reader: try AvroSchema.parse(record("a.R")), writer: try AvroSchema.parse(record("b.S")))
        #expect(n.first?.detail == "expected: b.S")
    }

    @Test func externalReferenceTypesAreResolved() throws {
        let v1Status = try AvroSchema.parse(enumType("Status", ["ON", "OFF"]))
        let v2Status = try AvroSchema.parse(enumType("Status", ["ON"]))
        let text = record("Device", fld("s", p("Status")))
        let writer = try AvroSchema.parse(text, referencedSchemas: [v1Status])
        let reader = try AvroSchema.parse(text, referencedSchemas: [v2Status])
        #expect(AvroCompatibility.check(reader: reader, writer: writer).map(\.type) == [.missingEnumSymbols])
        #expect(AvroCompatibility.canRead(reader: writer, writer: reader))
    }
}

// MARK: - Levels

@Suite struct AvroLevelTests {
    private func parse(_ texts: [String]) throws -> [AvroSchema] { try texts.map { try AvroSchema.parse($0) } }

    // Backward history: v3 reads v2 but not v1 (email has no default and v1 lacks it).
    private let backwardHistory = [
        record("com.acme.User", fld("id", p("int"))),
        record("com.acme.User", fld("id", p("int")), fld("email", p("string"), #""""#)),
    ]
    private let backwardNew = record("com.acme.User", fld("id", p("int")), fld("email", p("string")))

    // Forward history: v1 requires name, v2 defaults it, v3 drops it: v2 reads v3, v1 does not.
    private let forwardHistory = [
        record("R", fld("id", p("int")), fld("name", p("string"))),
        record("R", fld("id", p("int")), fld("name", p("string"), #""n""#)),
    ]
    private let forwardNew = record("R", fld("id", p("int")))

    @Test func backwardVersusTransitive() throws {
        let prev = try parse(backwardHistory)
        let new = try AvroSchema.parse(backwardNew)
        #expect(AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .backward).isCompatible)
        let t = AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .backwardTransitive)
        #expect(!t.isCompatible)
        #expect(t.failedAgainstIndex == 0)
        #expect(t.messages == [
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'email'}",
            "{oldSchemaVersion: 1}",
            "{compatibility: 'BACKWARD_TRANSITIVE'}",
        ])
        #expect(AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .none).isCompatible)
        // FORWARD: v2 must read v3; v2 lacks no field of v3 -> compatible; v3 has email w/o default but that's the writer side.
        #expect(AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .forward).isCompatible)
    }

    @Test func forwardVersusTransitive() throws {
        let prev = try parse(forwardHistory)
        let new = try AvroSchema.parse(forwardNew)
        #expect(AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .forward).isCompatible)
        let t = AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .forwardTransitive)
        #expect(!t.isCompatible)
        #expect(t.issues.first?.description == "The field 'name' at path '/fields/1' in the old schema has no default value and is missing in the new schema")
        #expect(AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .backward).isCompatible)
        #expect(AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .backwardTransitive).isCompatible)
    }

    @Test func fullVersusTransitive() throws {
        let prev = try parse(forwardHistory)
        let new = try AvroSchema.parse(forwardNew)
        #expect(AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .full).isCompatible)
        let t = AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .fullTransitive)
        #expect(!t.isCompatible)
        #expect(t.issues.map(\.errorType) == ["READER_FIELD_MISSING_DEFAULT_VALUE"])
        #expect(t.messages.last == "{compatibility: 'FULL_TRANSITIVE'}")
    }

    @Test func fullFailsWhenOneDirectionFails() throws {
        let prev = try parse(backwardHistory)
        let new = try AvroSchema.parse(record("com.acme.User", fld("id", p("int")), fld("email", p("string"), #""""#), fld("phone", p("string"))))
        let r = AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .full)
        #expect(!r.isCompatible)
        #expect(r.issues.map(\.path) == ["/fields/2"])
        #expect(AvroCompatibility.checkCompatibility(new: new, previous: prev, level: .forward).isCompatible)
    }

    @Test func emptyHistoryIsAlwaysCompatible() throws {
        let new = try AvroSchema.parse(forwardNew)
        for level in CompatibilityLevel.allCases {
            #expect(AvroCompatibility.checkCompatibility(new: new, previous: [], level: level).isCompatible)
        }
    }

    @Test func levelRawValues() {
        #expect(CompatibilityLevel.allCases.map(\.rawValue) == ["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"])
        #expect(CompatibilityLevel(rawValue: "FULL_TRANSITIVE") == .fullTransitive)
    }
}

/// Writes the resolution table as JSON lines to the path in `SKEIN_DUMP_AVRO_CASES` (used by
/// `scripts/avro-crosscheck.py` to compare against Apache Avro's Python checker). No-op otherwise.
@Test func dumpResolutionTableForCrossCheck() throws {
    guard let path = ProcessInfo.processInfo.environment["SKEIN_DUMP_AVRO_CASES"] else { return }
    var lines: [String] = []
    for c in primitiveCases + structuredCases {
        let obj = JSONValue.object(JSONObject([
            ("label", .string(c.label)), ("reader", .string(c.reader)), ("writer", .string(c.writer)),
            ("expected", .array(c.expected.map { .string($0.rawValue) })),
            ("location", c.location.map { .string($0) } ?? .null),
        ]))
        lines.append(obj.compactString)
    }
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}
