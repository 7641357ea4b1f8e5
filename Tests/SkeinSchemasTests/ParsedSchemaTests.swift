import Testing
@testable import SkeinSchemas

@Suite struct ParsedSchemaTests {
    @Test func schemaTypeRawValues() {
        #expect(SchemaType.allCases.map(\.rawValue) == ["AVRO", "JSON", "PROTOBUF"])
    }

    @Test func protobufIsUnsupported() {
        #expect(throws: SchemaParseError.unsupportedSchemaType(.protobuf)) {
            try ParsedSchema.parse(#"syntax = "proto3"; message M {}"#, type: .protobuf)
        }
        #expect(SchemaParseError.unsupportedSchemaType(.protobuf).description == "unsupported schema type PROTOBUF")
    }

    @Test func parseErrorsAreWrapped() {
        do { _ = try ParsedSchema.parse(#"{"type":"record"}"#, type: .avro); Issue.record("no error") } catch {
            guard case .avro(let e) = error else { Issue.record("wrong case \(error)"); return }
            #expect(e.kind == .missingAttribute)
            #expect(error.description.hasPrefix("invalid Avro schema: "))
        }
        do { _ = try ParsedSchema.parse(#"{"type":"strin"}"#, type: .json); Issue.record("no error") } catch {
            guard case .json(let e) = error else { Issue.record("wrong case \(error)"); return }
            #expect(e.path == "#/type")
        }
    }

    @Test func canonicalStrings() throws {
        let avro = try ParsedSchema.parse(#"{"type": "record", "name": "A", "doc": "x", "fields": [{"name": "f", "type": {"type": "int"}}]}"#, type: .avro)
        #expect(avro.canonicalString == #"{"name":"A","type":"record","fields":[{"name":"f","type":"int"}]}"#)
        #expect(avro.compactString == #"{"type":"record","name":"A","doc":"x","fields":[{"name":"f","type":{"type":"int"}}]}"#)
        let json = try ParsedSchema.parse(#"{ "type": "object", "properties": { "b": {"type": "string"}, "a": {"type": "integer"} } }"#, type: .json)
        #expect(json.canonicalString == #"{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"}"#)
        let json2 = try ParsedSchema.parse(#"{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"}"#, type: .json)
        #expect(json.isIdentical(to: json2))
        #expect(!json.isIdentical(to: avro))
    }

    @Test func avroCompatibilityThroughFacade() throws {
        let v1 = try ParsedSchema.parse(#"{"type":"record","name":"U","fields":[{"name":"id","type":"int"}]}"#, type: .avro)
        let v2 = try ParsedSchema.parse(#"{"type":"record","name":"U","fields":[{"name":"id","type":"int"},{"name":"email","type":"string"}]}"#, type: .avro)
        let r = checkCompatibility(new: v2, previous: [v1], level: .backward)
        #expect(!r.isCompatible)
        #expect(r.messages.first == "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'email'}")
        #expect(checkCompatibility(new: v2, previous: [v1], level: .forward).isCompatible)
        #expect(checkCompatibility(new: v2, previous: [v1], level: .none).isCompatible)
    }

    @Test func avroReferencesThroughFacade() throws {
        let shared = try AvroSchema.parse(#"{"type":"fixed","name":"Id","size":16}"#)
        let s = try ParsedSchema.parse(#"{"type":"record","name":"R","fields":[{"name":"id","type":"Id"}]}"#, type: .avro, avroReferences: [shared])
        #expect(s.canonicalString == #"{"name":"R","type":"record","fields":[{"name":"id","type":{"name":"Id","type":"fixed","size":16}}]}"#)
    }

    @Test func jsonCompatibilityThroughFacade() throws {
        let v1 = try ParsedSchema.parse(#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#, type: .json)
        let v2 = try ParsedSchema.parse(#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["b"],"additionalProperties":false}"#, type: .json)
        let r = v2.checkCompatibility(previous: [v1], level: .backward)
        #expect(r.issues.map(\.errorType) == ["REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"])
        #expect(r.issues.first?.path == "#/properties/b")
        // Forward: the old closed model cannot read new data carrying "b".
        #expect(v2.checkCompatibility(previous: [v1], level: .forward).issues.map(\.errorType) == ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"])
    }

    @Test func mixedTypesAreIncompatible() throws {
        let a = try ParsedSchema.parse(#""string""#, type: .avro)
        let j = try ParsedSchema.parse(#"{"type":"string"}"#, type: .json)
        let r = j.checkCompatibility(previous: [a], level: .full)
        #expect(r.issues.map(\.errorType) == ["SCHEMA_TYPE_MISMATCH", "SCHEMA_TYPE_MISMATCH"])
        #expect(r.issues.first?.description == "The new schema type JSON does not match the old schema type AVRO")
        #expect(j.checkCompatibility(previous: [a], level: .none).isCompatible)
    }

    @Test func deterministicResults() throws {
        let v1 = try ParsedSchema.parse(#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},"c":{"type":"string"}},"additionalProperties":false}"#, type: .json)
        let v2 = try ParsedSchema.parse(#"{"type":"object","properties":{"z":{"type":"string"},"y":{"type":"string"}},"required":["z","y"],"additionalProperties":false}"#, type: .json)
        let first = v2.checkCompatibility(previous: [v1], level: .full).messages
        for _ in 0..<5 { #expect(v2.checkCompatibility(previous: [v1], level: .full).messages == first) }
        #expect(first.count > 4)
    }
}
