import Testing
@testable import SkeinSchemas

private func rec(_ fields: String, name: String = "R", extra: String = "") -> String {
    #"{"type":"record","name":"\#(name)"\#(extra),"fields":[\#(fields)]}"#
}

private func field(_ type: String, _ def: String) -> String {
    rec(#"{"name":"f","type":\#(type),"default":\#(def)}"#)
}

struct ParserErrorCase: Sendable, CustomStringConvertible {
    let label: String
    let schema: String
    let kind: AvroSchemaError.Kind
    var description: String { label }
}

let parserErrorCases: [ParserErrorCase] = [
    .init(label: "not json", schema: "{", kind: .invalidJSON),
    .init(label: "number as schema", schema: "42", kind: .invalidAttribute),
    .init(label: "unknown primitive", schema: #""integer""#, kind: .unknownType),
    .init(label: "object without type", schema: #"{"name":"x"}"#, kind: .missingAttribute),
    .init(label: "type is number", schema: #"{"type":5}"#, kind: .invalidAttribute),
    .init(label: "record without name", schema: #"{"type":"record","fields":[]}"#, kind: .missingAttribute),
    .init(label: "record name not string", schema: #"{"type":"record","name":1,"fields":[]}"#, kind: .invalidAttribute),
    .init(label: "record name starts with digit", schema: rec("", name: "1abc"), kind: .invalidName),
    .init(label: "record name with dash", schema: rec("", name: "a-b"), kind: .invalidName),
    .init(label: "record empty name", schema: rec("", name: ""), kind: .invalidName),
    .init(label: "dotted name with empty component", schema: rec("", name: "a..B"), kind: .invalidName),
    .init(label: "dotted name with trailing dot", schema: rec("", name: "a.b."), kind: .invalidName),
    .init(label: "bad namespace", schema: rec("", extra: #","namespace":"com.1acme""#), kind: .invalidName),
    .init(label: "namespace not string", schema: rec("", extra: #","namespace":7"#), kind: .invalidAttribute),
    .init(label: "named after primitive", schema: rec("", name: "int"), kind: .invalidName),
    .init(label: "record without fields", schema: #"{"type":"record","name":"R"}"#, kind: .missingAttribute),
    .init(label: "fields not array", schema: #"{"type":"record","name":"R","fields":{}}"#, kind: .invalidAttribute),
    .init(label: "field not object", schema: rec(#""int""#), kind: .invalidAttribute),
    .init(label: "field without name", schema: rec(#"{"type":"int"}"#), kind: .missingAttribute),
    .init(label: "field bad name", schema: rec(#"{"name":"a b","type":"int"}"#), kind: .invalidName),
    .init(label: "field without type", schema: rec(#"{"name":"a"}"#), kind: .missingAttribute),
    .init(label: "duplicate field", schema: rec(#"{"name":"a","type":"int"},{"name":"a","type":"long"}"#), kind: .duplicateField),
    .init(label: "bad field order", schema: rec(#"{"name":"a","type":"int","order":"up"}"#), kind: .invalidAttribute),
    .init(label: "bad field alias", schema: rec(#"{"name":"a","type":"int","aliases":["x.y"]}"#), kind: .invalidName),
    .init(label: "aliases not array", schema: rec(#"{"name":"a","type":"int","aliases":"x"}"#), kind: .invalidAttribute),
    .init(label: "bad record alias", schema: rec("", extra: #","aliases":["9x"]"#), kind: .invalidName),
    .init(label: "doc not string", schema: rec("", extra: #","doc":1"#), kind: .invalidAttribute),
    .init(label: "enum without symbols", schema: #"{"type":"enum","name":"E"}"#, kind: .missingAttribute),
    .init(label: "enum symbols not strings", schema: #"{"type":"enum","name":"E","symbols":[1]}"#, kind: .invalidAttribute),
    .init(label: "enum bad symbol", schema: #"{"type":"enum","name":"E","symbols":["A","b-c"]}"#, kind: .invalidName),
    .init(label: "enum symbol starting with digit", schema: #"{"type":"enum","name":"E","symbols":["1A"]}"#, kind: .invalidName),
    .init(label: "enum duplicate symbol", schema: #"{"type":"enum","name":"E","symbols":["A","A"]}"#, kind: .duplicateSymbol),
    .init(label: "enum default not a symbol", schema: #"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#, kind: .invalidDefault),
    .init(label: "fixed without size", schema: #"{"type":"fixed","name":"F"}"#, kind: .missingAttribute),
    .init(label: "fixed negative size", schema: #"{"type":"fixed","name":"F","size":-1}"#, kind: .invalidAttribute),
    .init(label: "fixed fractional size", schema: #"{"type":"fixed","name":"F","size":1.5}"#, kind: .invalidAttribute),
    .init(label: "fixed string size", schema: #"{"type":"fixed","name":"F","size":"4"}"#, kind: .invalidAttribute),
    .init(label: "array without items", schema: #"{"type":"array"}"#, kind: .missingAttribute),
    .init(label: "map without values", schema: #"{"type":"map"}"#, kind: .missingAttribute),
    .init(label: "array of unknown", schema: #"{"type":"array","items":"Nope"}"#, kind: .unknownType),
    .init(label: "nested union", schema: #"["null",["int","string"]]"#, kind: .nestedUnion),
    .init(label: "duplicate primitive in union", schema: #"["int","string","int"]"#, kind: .duplicateUnionBranch),
    .init(label: "duplicate logical int in union", schema: #"["int",{"type":"int","logicalType":"date"}]"#, kind: .duplicateUnionBranch),
    .init(label: "two arrays in union", schema: #"[{"type":"array","items":"int"},{"type":"array","items":"long"}]"#, kind: .duplicateUnionBranch),
    .init(label: "two maps in union", schema: #"[{"type":"map","values":"int"},{"type":"map","values":"long"}]"#, kind: .duplicateUnionBranch),
    .init(label: "same named type twice in union", schema: rec(#"{"name":"u","type":[{"type":"fixed","name":"F","size":2},"F"]}"#), kind: .duplicateUnionBranch),
    .init(label: "unknown type reference", schema: rec(#"{"name":"a","type":"Missing"}"#), kind: .unknownType),
    .init(label: "reference before definition", schema: rec(#"{"name":"a","type":"E"},{"name":"b","type":{"type":"enum","name":"E","symbols":["X"]}}"#), kind: .unknownType),
    .init(label: "redefinition", schema: rec(#"{"name":"a","type":{"type":"enum","name":"E","symbols":["X"]}},{"name":"b","type":{"type":"enum","name":"E","symbols":["Y"]}}"#), kind: .redefinedName),
    .init(label: "redefinition of record itself", schema: rec(#"{"name":"a","type":{"type":"record","name":"R","fields":[]}}"#), kind: .redefinedName),
    .init(label: "redefinition via full name", schema: rec(#"{"name":"a","type":{"type":"fixed","name":"n.F","size":1}},{"name":"b","type":{"type":"fixed","name":"F","namespace":"n","size":1}}"#), kind: .redefinedName),
    // Defaults per type.
    .init(label: "null default not null", schema: field(#""null""#, "0"), kind: .invalidDefault),
    .init(label: "boolean default string", schema: field(#""boolean""#, #""true""#), kind: .invalidDefault),
    .init(label: "int default string", schema: field(#""int""#, #""x""#), kind: .invalidDefault),
    .init(label: "int default fractional", schema: field(#""int""#, "1.5"), kind: .invalidDefault),
    .init(label: "int default 1.0", schema: field(#""int""#, "1.0"), kind: .invalidDefault),
    .init(label: "int default out of range", schema: field(#""int""#, "2147483648"), kind: .invalidDefault),
    .init(label: "long default out of range", schema: field(#""long""#, "9223372036854775808"), kind: .invalidDefault),
    .init(label: "float default string", schema: field(#""float""#, #""1.0""#), kind: .invalidDefault),
    .init(label: "double default null", schema: field(#""double""#, "null"), kind: .invalidDefault),
    .init(label: "string default number", schema: field(#""string""#, "1"), kind: .invalidDefault),
    .init(label: "bytes default above 255", schema: field(#""bytes""#, #""\u0100""#), kind: .invalidDefault),
    .init(label: "bytes default number", schema: field(#""bytes""#, "1"), kind: .invalidDefault),
    .init(label: "fixed default wrong length", schema: field(#"{"type":"fixed","name":"F","size":2}"#, #""abc""#), kind: .invalidDefault),
    .init(label: "fixed default above 255", schema: field(#"{"type":"fixed","name":"F","size":1}"#, #""\u0101""#), kind: .invalidDefault),
    .init(label: "enum default unknown symbol", schema: field(#"{"type":"enum","name":"E","symbols":["A"]}"#, #""B""#), kind: .invalidDefault),
    .init(label: "array default not array", schema: field(#"{"type":"array","items":"int"}"#, "{}"), kind: .invalidDefault),
    .init(label: "array default bad element", schema: field(#"{"type":"array","items":"int"}"#, #"[1,"a"]"#), kind: .invalidDefault),
    .init(label: "map default not object", schema: field(#"{"type":"map","values":"int"}"#, "[]"), kind: .invalidDefault),
    .init(label: "map default bad value", schema: field(#"{"type":"map","values":"int"}"#, #"{"a":true}"#), kind: .invalidDefault),
    .init(label: "union default not first branch", schema: field(#"["null","string"]"#, #""x""#), kind: .invalidDefault),
    .init(label: "union default second branch only", schema: field(#"["string","null"]"#, "null"), kind: .invalidDefault),
    .init(label: "record default not object", schema: field(#"{"type":"record","name":"S","fields":[{"name":"a","type":"int"}]}"#, "1"), kind: .invalidDefault),
    .init(label: "record default missing field", schema: field(#"{"type":"record","name":"S","fields":[{"name":"a","type":"int"}]}"#, "{}"), kind: .invalidDefault),
    .init(label: "record default wrong field type", schema: field(#"{"type":"record","name":"S","fields":[{"name":"a","type":"int"}]}"#, #"{"a":"x"}"#), kind: .invalidDefault),
]

@Suite struct AvroParserTests {
    @Test(arguments: parserErrorCases)
    func rejects(_ c: ParserErrorCase) {
        do {
            let s = try AvroSchema.parse(c.schema)
            Issue.record("expected \(c.kind) but parsed \(s.canonicalForm)")
        } catch {
            #expect(error.kind == c.kind, "\(error.message)")
        }
    }

    @Test func defaultErrorMessageNamesFieldAndRecord() {
        let text = #"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"age","type":"int","default":"x"}]}"#
        #expect(throws: AvroSchemaError(.invalidDefault, #"field "age" of record "com.acme.User": default "x" is not an int"#)) {
            try AvroSchema.parse(text)
        }
    }

    @Test func unknownTypeMessage() {
        do { _ = try AvroSchema.parse(rec(#"{"name":"a","type":"Missing"}"#)); Issue.record("no error") } catch {
            #expect(error.message == #"field "a" of record "R": unknown type "Missing""#)
        }
    }

    @Test(arguments: [
        (#""null""#, "null"), (#""boolean""#, "true"), (#""int""#, "-2147483648"), (#""long""#, "9223372036854775807"),
        (#""float""#, "1"), (#""double""#, "1.5e10"), (#""string""#, #""s""#), (#""bytes""#, #""\u00ff\u0000""#),
        (#"{"type":"fixed","name":"F","size":2}"#, #""\u00ffa""#), (#"{"type":"enum","name":"E","symbols":["A"]}"#, #""A""#),
        (#"{"type":"array","items":"int"}"#, "[1,2]"), (#"{"type":"map","values":"long"}"#, #"{"a":1}"#),
        (#"["null","string"]"#, "null"), (#"["string","null"]"#, #""x""#),
        (#"{"type":"record","name":"S","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":3}]}"#, #"{"a":1}"#),
        (#"{"type":"int","logicalType":"date"}"#, "0"),
    ])
    func acceptsValidDefault(_ type: String, _ def: String) throws {
        _ = try AvroSchema.parse(field(type, def))
    }

    @Test func recursiveDefaultsAreCheckedAfterDefinition() throws {
        let s = try AvroSchema.parse(#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null},{"name":"child","type":{"type":"array","items":"Node"},"default":[{"v":1}]}]}"#)
        #expect(s.definedNames == ["Node"])
    }

    @Test func namespaceResolution() throws {
        let s = try AvroSchema.parse(#"""
        {"type":"record","name":"Outer","namespace":"a.b","fields":[
          {"name":"f1","type":{"type":"record","name":"Inner","fields":[
              {"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}}]}},
          {"name":"f2","type":{"type":"fixed","name":"c.Fx","size":1}},
          {"name":"f3","type":{"type":"record","name":"Deep","namespace":"d","fields":[
              {"name":"g","type":{"type":"fixed","name":"G","size":2}},
              {"name":"h","type":"a.b.E"}]}},
          {"name":"f4","type":{"type":"record","name":"NoNs","namespace":"","fields":[
              {"name":"k","type":{"type":"enum","name":"K","symbols":["Y"]}}]}},
          {"name":"f5","type":"Inner"},
          {"name":"f6","type":"c.Fx"},
          {"name":"f7","type":"K"},
          {"name":"f8","type":{"type":"record","name":"x.y.Dotted","namespace":"ignored","fields":[
              {"name":"z","type":{"type":"enum","name":"Z","symbols":["Q"]}}]}}
        ]}
        """#)
        #expect(s.definedNames == ["a.b.E", "a.b.Inner", "c.Fx", "d.G", "d.Deep", "K", "NoNs", "x.y.Z", "x.y.Dotted", "a.b.Outer"])
        guard case .record(let outer) = s.root else { Issue.record("root is not a record"); return }
        #expect(outer.field(named: "f5")?.type == .reference("a.b.Inner"))
        #expect(outer.field(named: "f6")?.type == .reference("c.Fx"))
        #expect(outer.field(named: "f7")?.type == .reference("K"))
    }

    @Test func unqualifiedReferenceFallsBackToNullNamespace() throws {
        let s = try AvroSchema.parse(#"{"type":"record","name":"a.R","fields":[{"name":"x","type":{"type":"enum","name":"E","namespace":"","symbols":["A"]}},{"name":"y","type":"E"}]}"#)
        guard case .record(let r) = s.root else { Issue.record("not a record"); return }
        #expect(r.field(named: "y")?.type == .reference("E"))
    }

    @Test func aliasesAreQualifiedWithTheTypeNamespace() throws {
        let s = try AvroSchema.parse(#"{"type":"record","name":"R","namespace":"n","aliases":["Old","o.Older"],"fields":[{"name":"a","type":"int","aliases":["b","c"]}]}"#)
        guard case .record(let r) = s.root else { Issue.record("not a record"); return }
        #expect(r.aliases == ["n.Old", "o.Older"])
        #expect(r.fields[0].aliases == ["b", "c"])
    }

    @Test func logicalTypes() throws {
        func lt(_ t: String) throws -> AvroLogicalType? {
            let s = try AvroSchema.parse(t)
            switch s.root {
            case .primitive(_, let l): return l
            case .fixed(let f): return f.logicalType
            default: return nil
            }
        }
        #expect(try lt(#"{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}"#) == .decimal(precision: 4, scale: 2))
        #expect(try lt(#"{"type":"bytes","logicalType":"decimal","precision":4}"#) == .decimal(precision: 4, scale: 0))
        #expect(try lt(#"{"type":"bytes","logicalType":"decimal","precision":2,"scale":3}"#) == nil)
        #expect(try lt(#"{"type":"bytes","logicalType":"decimal","precision":0}"#) == nil)
        #expect(try lt(#"{"type":"bytes","logicalType":"decimal"}"#) == nil)
        #expect(try lt(#"{"type":"fixed","name":"D","size":4,"logicalType":"decimal","precision":9}"#) == .decimal(precision: 9, scale: 0))
        #expect(try lt(#"{"type":"fixed","name":"D","size":4,"logicalType":"decimal","precision":10}"#) == nil)
        #expect(try lt(#"{"type":"string","logicalType":"uuid"}"#) == .uuid)
        #expect(try lt(#"{"type":"int","logicalType":"uuid"}"#) == nil)
        #expect(try lt(#"{"type":"int","logicalType":"date"}"#) == .date)
        #expect(try lt(#"{"type":"long","logicalType":"date"}"#) == nil)
        #expect(try lt(#"{"type":"int","logicalType":"time-millis"}"#) == .timeMillis)
        #expect(try lt(#"{"type":"long","logicalType":"time-micros"}"#) == .timeMicros)
        #expect(try lt(#"{"type":"long","logicalType":"timestamp-millis"}"#) == .timestampMillis)
        #expect(try lt(#"{"type":"long","logicalType":"timestamp-micros"}"#) == .timestampMicros)
        #expect(try lt(#"{"type":"long","logicalType":"local-timestamp-millis"}"#) == .localTimestampMillis)
        #expect(try lt(#"{"type":"long","logicalType":"local-timestamp-micros"}"#) == .localTimestampMicros)
        #expect(try lt(#"{"type":"int","logicalType":"timestamp-millis"}"#) == nil)
        #expect(try lt(#"{"type":"fixed","name":"Du","size":12,"logicalType":"duration"}"#) == .duration)
        #expect(try lt(#"{"type":"fixed","name":"Du","size":8,"logicalType":"duration"}"#) == nil)
        #expect(try lt(#"{"type":"string","logicalType":"made-up"}"#) == nil)
    }

    @Test func externalReferences() throws {
        let shared = try AvroSchema.parse(#"{"type":"enum","name":"Status","namespace":"com.acme","symbols":["ON","OFF"]}"#)
        let s = try AvroSchema.parse(#"{"type":"record","name":"Device","namespace":"com.acme","fields":[{"name":"s","type":"Status","default":"ON"}]}"#,
                                     references: shared.definedTypes)
        #expect(s.definedNames == ["com.acme.Device"])
        #expect(s.namedTypes["com.acme.Status"] != nil)
        #expect(throws: AvroSchemaError.self) {
            try AvroSchema.parse(#"{"type":"record","name":"Device","namespace":"com.acme","fields":[{"name":"s","type":"Status","default":"MAYBE"}]}"#,
                                 references: shared.definedTypes)
        }
        #expect(throws: AvroSchemaError.self) {
            try AvroSchema.parse(#"{"type":"enum","name":"com.acme.Status","symbols":["X"]}"#, references: shared.definedTypes)
        }
        #expect(throws: AvroSchemaError.self) { try AvroSchema.parse(#"{"type":"array","items":"com.acme.Status"}"#) }
    }

    @Test func nestedTypeObjectsAndErrorRecords() throws {
        let s = try AvroSchema.parse(#"{"type":{"type":"array","items":{"type":"error","name":"E","fields":[]}}}"#)
        #expect(s.canonicalForm == #"{"type":"array","items":{"name":"E","type":"record","fields":[]}}"#)
    }
}
