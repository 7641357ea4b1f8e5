import Foundation
import Testing

@testable import KafkaWireGenerator

/// The checked-in generated code must be exactly what the generator makes from the pinned JSON.
@Suite struct GeneratorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let protocolDir: URL = {
        if let env = ProcessInfo.processInfo.environment["SKEIN_KAFKA_PROTOCOL_DIR"] {
            return URL(fileURLWithPath: env)
        }
        return root.deletingLastPathComponent().appendingPathComponent("shared/kafka-protocol")
    }()

    @Test func generatedCodeIsUpToDate() throws {
        let generator = try WireGenerator(protocolDirectory: Self.protocolDir)
        #expect(generator.kafkaCommit == "1eb7644349cb07139d6a3c1ad1986979647cac99")
        let diffs = try generator.differences(from: Self.root.appendingPathComponent("Sources/KafkaWire/Generated"))
        #expect(diffs.isEmpty, "stale generated code; run `swift run kafka-wire-gen`: \(diffs.prefix(10))")
    }

    @Test func generationIsDeterministic() throws {
        let a = try WireGenerator(protocolDirectory: Self.protocolDir).generate()
        let b = try WireGenerator(protocolDirectory: Self.protocolDir).generate()
        #expect(a == b)
        #expect(a.count == 188)
    }

    @Test func versionRanges() throws {
        #expect(try VersionRange(parsing: "none").isEmpty)
        #expect(try VersionRange(parsing: "3") == VersionRange(lowest: 3, highest: 3))
        #expect(try VersionRange(parsing: "1-4") == VersionRange(lowest: 1, highest: 4))
        #expect(try VersionRange(parsing: "5+") == VersionRange(lowest: 5, highest: nil))
        #expect(throws: SchemaError.self) { try VersionRange(parsing: "4-1") }
        #expect(throws: SchemaError.self) { try VersionRange(parsing: "x") }
        let r = try VersionRange(parsing: "2+").intersection(VersionRange(parsing: "0-5"))
        #expect(r == VersionRange(lowest: 2, highest: 5))
        #expect(try VersionRange(parsing: "7+").intersection(VersionRange(parsing: "0-5")).isEmpty)
        #expect(try VersionRange(parsing: "3-4").isSubset(of: VersionRange(parsing: "1+")))
        #expect(try !VersionRange(parsing: "0+").isSubset(of: VersionRange(parsing: "1+")))
    }

    @Test func schemaChecksRefuseBadDefinitions() {
        let taggedOutsideFlexible = """
            { "apiKey": 0, "type": "request", "name": "XRequest", "validVersions": "0-3", "flexibleVersions": "2+",
              "fields": [ { "name": "A", "type": "int32", "versions": "0+", "taggedVersions": "1+", "tag": 0 } ] }
            """
        #expect(throws: SchemaError.self) {
            try SchemaParser.parse(fileName: "x.json", contents: taggedOutsideFlexible)
        }
        let nullableInt = """
            { "type": "data", "name": "X", "validVersions": "0", "flexibleVersions": "none",
              "fields": [ { "name": "A", "type": "int32", "versions": "0+", "nullableVersions": "0+" } ] }
            """
        #expect(throws: SchemaError.self) { try SchemaParser.parse(fileName: "x.json", contents: nullableInt) }
        let unknownStruct = """
            { "type": "data", "name": "X", "validVersions": "0", "flexibleVersions": "none",
              "fields": [ { "name": "A", "type": "[]Nope", "versions": "0+" } ] }
            """
        #expect(throws: SchemaError.self) { try SchemaParser.parse(fileName: "x.json", contents: unknownStruct) }
    }

    @Test func commentsAndStringTagsParse() throws {
        let text = """
            // Licensed to the Apache Software Foundation
            { "type": "data", "name": "X", "validVersions": "0-1", "flexibleVersions": "0+",
              // a comment line inside
              "fields": [ { "name": "A", "type": "int32", "versions": "0+", "default": "0x7fffffff" },
                          { "name": "B", "type": "bool", "versions": "0+", "default": false },
                          { "name": "C", "type": "int64", "versions": "1+", "default": -1 },
                          { "name": "D", "type": "[]uuid", "versions": "1+", "taggedVersions": "1+", "tag": "0" } ] }
            """
        let spec = try SchemaParser.parse(fileName: "x.json", contents: text)
        #expect(spec.fields.map(\.defaultValue) == ["0x7fffffff", "false", "-1", nil])
        #expect(spec.fields[3].tag == 0)
        let swift = SwiftEmitter.render(spec, header: "// test")
        #expect(swift.contains("a: Int32 = 2147483647"))
        #expect(swift.contains("c: Int64 = -1"))
        #expect(swift.contains("case 0 where version >= 1:"))
    }
}
