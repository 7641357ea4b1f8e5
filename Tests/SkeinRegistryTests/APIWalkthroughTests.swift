import SkeinSchemas
import Testing

@testable import SkeinRegistry

/// One request of the walkthrough and what Confluent answers.
struct Step: CustomStringConvertible {
    var method: String
    var path: String
    var query: [String: String] = [:]
    var body: String?
    var status: Int
    /// Exact expected body, when given.
    var expect: String?
    /// A substring the body must contain, when given.
    var contains: String?
    /// Whether the outcome must be a write (true) or a plain response (false), when given.
    var writes: Bool?

    var description: String { "\(method) \(path) \(query)" }
}

func S(
    _ method: String, _ path: String, q: [String: String] = [:], body: String? = nil, _ status: Int,
    _ expect: String? = nil, contains: String? = nil, writes: Bool? = nil
) -> Step {
    Step(
        method: method, path: path, query: q, body: body, status: status, expect: expect, contains: contains,
        writes: writes)
}

func err(_ code: Int, _ message: String) -> String {
    JSONValue.object(JSONObject([("error_code", .number(JSONNumber(Int64(code)))), ("message", .string(message))]))
        .compactString
}

enum Schemas {
    static let userV1 = #"{"type":"record","name":"User","fields":[{"name":"id","type":"int"}]}"#
    static let userV2 =
        #"{"type":"record","name":"User","fields":[{"name":"id","type":"int"},{"name":"email","type":["null","string"],"default":null}]}"#
    static let userV3 =
        #"{"type":"record","name":"User","fields":[{"name":"id","type":"int"},{"name":"email","type":["null","string"],"default":null},{"name":"age","type":"int","default":0}]}"#
    /// `id` changes from int to string: not BACKWARD compatible.
    static let userBad = #"{"type":"record","name":"User","fields":[{"name":"id","type":"string"}]}"#
    static let address =
        #"{"type":"record","name":"Address","namespace":"com.example","fields":[{"name":"street","type":"string"}]}"#
    static let customer =
        #"{"type":"record","name":"Customer","namespace":"com.example","fields":[{"name":"name","type":"string"},{"name":"address","type":"com.example.Address"}]}"#
    static let jsonObject = #"{"type":"object","properties":{"a":{"type":"string"}}}"#
}

@Suite struct APIWalkthroughTests {
    /// Confluent's documented behaviour, one request at a time, on one live registry.
    static var walkthrough: [Step] {
        let u1 = Schemas.userV1, u2 = Schemas.userV2, u3 = Schemas.userV3, bad = Schemas.userBad
        return [
            S("GET", "/", 200, "{}", writes: false),
            S("GET", "/subjects", 200, "[]"),
            S("GET", "/schemas/types", 200, #"["AVRO","JSON"]"#),
            // Register, re-register (same id, no new version), evolve, refuse an incompatible schema.
            S("POST", "/subjects/users-value/versions", body: Body.schema(u1), 200, #"{"id":1}"#, writes: true),
            S("POST", "/subjects/users-value/versions", body: Body.schema(u1), 200, #"{"id":1}"#, writes: false),
            S(
                "POST", "/subjects/users-value/versions",
                body: Body.schema(
                    #"{ "type": "record", "name": "User", "fields": [ {"name": "id", "type": "int"} ] }"#),
                200, #"{"id":1}"#, writes: false),
            S("GET", "/subjects/users-value/versions", 200, "[1]"),
            S("POST", "/subjects/users-value/versions", body: Body.schema(u2), 200, #"{"id":2}"#, writes: true),
            S(
                "POST", "/subjects/users-value/versions", body: Body.schema(bad), 409,
                contains:
                    #""error_code":409,"message":"Schema being registered is incompatible with an earlier schema for subject \"users-value\", details: [{errorType:'TYPE_MISMATCH'"#,
                writes: false),
            S(
                "POST", "/subjects/users-value/versions", body: Body.schema(bad), 409,
                contains: "{oldSchemaVersion: 2}, {oldSchema: '"),
            S("GET", "/subjects/users-value/versions", 200, "[1,2]"),
            // The same schema under another subject reuses the global id.
            S("POST", "/subjects/orders-value/versions", body: Body.schema(u1), 200, #"{"id":1}"#, writes: true),
            S("GET", "/subjects", 200, #"["orders-value","users-value"]"#),
            S("GET", "/subjects", q: ["subjectPrefix": "ord"], 200, #"["orders-value"]"#),
            S("GET", "/schemas/ids/1", 200, #"{"schema":\#(Body.quoted(u1))}"#),
            S("GET", "/schemas/ids/1/schema", 200, u1),
            S("GET", "/schemas/ids/1/subjects", 200, #"["orders-value","users-value"]"#),
            S(
                "GET", "/schemas/ids/1/versions", 200,
                #"[{"subject":"orders-value","version":1},{"subject":"users-value","version":1}]"#),
            S("GET", "/schemas/ids/999", 404, err(40403, "Schema 999 not found")),
            S("GET", "/schemas/ids/abc", 404, err(404, "HTTP 404 Not Found")),
            // Reading versions.
            S(
                "GET", "/subjects/users-value/versions/latest", 200,
                #"{"subject":"users-value","version":2,"id":2,"schema":\#(Body.quoted(u2))}"#),
            S(
                "GET", "/subjects/users-value/versions/-1", 200,
                #"{"subject":"users-value","version":2,"id":2,"schema":\#(Body.quoted(u2))}"#),
            S(
                "GET", "/subjects/users-value/versions/1", 200,
                #"{"subject":"users-value","version":1,"id":1,"schema":\#(Body.quoted(u1))}"#),
            S("GET", "/subjects/users-value/versions/1/schema", 200, u1),
            S("GET", "/subjects/users-value/versions/3", 404, err(40402, "Version 3 not found.")),
            S("GET", "/subjects/nope/versions", 404, err(40401, "Subject 'nope' not found.")),
            S("GET", "/subjects/nope/versions/1", 404, err(40401, "Subject 'nope' not found.")),
            S(
                "GET", "/subjects/users-value/versions/abc", 422,
                err(
                    42202,
                    #"The specified version 'abc' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest""#
                )),
            S("GET", "/subjects/users-value/versions/0", 422, contains: #""error_code":42202"#),
            // Lookup.
            S(
                "POST", "/subjects/users-value", body: Body.schema(u1), 200,
                #"{"subject":"users-value","version":1,"id":1,"schema":\#(Body.quoted(u1))}"#, writes: false),
            S("POST", "/subjects/users-value", body: Body.schema(u3), 404, err(40403, "Schema not found")),
            S("POST", "/subjects/nope", body: Body.schema(u1), 404, err(40401, "Subject 'nope' not found.")),
            S("POST", "/subjects/users-value", body: Body.schema("{nope"), 422, contains: #""error_code":42201"#),
            // Soft delete, listings with and without deleted=true, hard delete only after soft delete.
            S(
                "DELETE", "/subjects/orders-value", q: ["permanent": "true"], 404,
                err(40405, "Subject 'orders-value' was not deleted first before being permanently deleted")),
            S("DELETE", "/subjects/orders-value", 200, "[1]", writes: true),
            S("GET", "/subjects", 200, #"["users-value"]"#),
            S("GET", "/subjects", q: ["deleted": "true"], 200, #"["orders-value","users-value"]"#),
            S("GET", "/subjects/orders-value/versions", 404, err(40401, "Subject 'orders-value' not found.")),
            S("GET", "/subjects/orders-value/versions", q: ["deleted": "true"], 200, "[1]"),
            S(
                "GET", "/subjects/orders-value/versions/1", q: ["deleted": "true"], 200,
                #"{"subject":"orders-value","version":1,"id":1,"schema":\#(Body.quoted(u1))}"#),
            S("GET", "/schemas/ids/1/subjects", 200, #"["users-value"]"#),
            S("GET", "/schemas/ids/1/subjects", q: ["deleted": "true"], 200, #"["orders-value","users-value"]"#),
            S(
                "DELETE", "/subjects/orders-value", 404,
                err(40404, "Subject 'orders-value' was soft deleted.Set permanent=true to delete permanently")),
            S("DELETE", "/subjects/orders-value", q: ["permanent": "true"], 200, "[1]", writes: true),
            S("GET", "/subjects", q: ["deleted": "true"], 200, #"["users-value"]"#),
            S("DELETE", "/subjects/orders-value", 404, err(40401, "Subject 'orders-value' not found.")),
            // Version deletes.
            S("DELETE", "/subjects/users-value/versions/2", 200, "2", writes: true),
            S(
                "DELETE", "/subjects/users-value/versions/2", 404,
                err(40406, "Subject 'users-value' Version 2 was soft deleted.Set permanent=true to delete permanently")),
            S(
                "DELETE", "/subjects/users-value/versions/1", q: ["permanent": "true"], 404,
                err(40407, "Subject 'users-value' Version 1 was not deleted first before being permanently deleted")),
            S("DELETE", "/subjects/users-value/versions/7", 404, err(40402, "Version 7 not found.")),
            S("GET", "/subjects/users-value/versions", 200, "[1]"),
            S("GET", "/subjects/users-value/versions", q: ["deleted": "true"], 200, "[1,2]"),
            S("GET", "/subjects/users-value/versions/2", 404, err(40402, "Version 2 not found.")),
            S("GET", "/schemas/ids/2", 200, #"{"schema":\#(Body.quoted(u2))}"#),
            S("DELETE", "/subjects/users-value/versions/2", q: ["permanent": "true"], 200, "2", writes: true),
            S("GET", "/schemas/ids/2", 404, err(40403, "Schema 2 not found")),
            // Ids and versions are never reused: the hard-deleted schema comes back with id 3 as version 3.
            S("POST", "/subjects/users-value/versions", body: Body.schema(u2), 200, #"{"id":3}"#, writes: true),
            S("GET", "/subjects/users-value/versions", 200, "[1,3]"),
            S(
                "GET", "/subjects/users-value/versions/latest", 200,
                #"{"subject":"users-value","version":3,"id":3,"schema":\#(Body.quoted(u2))}"#),
            // Config.
            S("GET", "/config", 200, #"{"compatibilityLevel":"BACKWARD"}"#),
            S("PUT", "/config", body: #"{"compatibility":"FULL"}"#, 200, #"{"compatibility":"FULL"}"#, writes: true),
            S("PUT", "/config", body: #"{"compatibility":"full"}"#, 200, #"{"compatibility":"FULL"}"#, writes: false),
            S("GET", "/config", 200, #"{"compatibilityLevel":"FULL"}"#),
            S(
                "PUT", "/config", body: #"{"compatibility":"BOGUS"}"#, 422,
                err(
                    42203,
                    "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
                )),
            S(
                "GET", "/config/users-value", 404,
                err(40408, "Subject 'users-value' does not have subject-level compatibility configured")),
            S("GET", "/config/users-value", q: ["defaultToGlobal": "true"], 200, #"{"compatibilityLevel":"FULL"}"#),
            S("PUT", "/config/users-value", body: #"{"compatibility":"NONE"}"#, 200, #"{"compatibility":"NONE"}"#),
            S("GET", "/config/users-value", 200, #"{"compatibilityLevel":"NONE"}"#),
            S("POST", "/subjects/users-value/versions", body: Body.schema(bad), 200, #"{"id":4}"#, writes: true),
            S("DELETE", "/config/users-value", 200, #"{"compatibilityLevel":"NONE"}"#, writes: true),
            S(
                "POST", "/subjects/users-value/versions", body: Body.schema(u3), 409,
                contains: "{compatibility: 'FULL'}"),
            S("DELETE", "/config", 200, #"{"compatibilityLevel":"FULL"}"#, writes: true),
            S("GET", "/config", 200, #"{"compatibilityLevel":"BACKWARD"}"#),
            // Compatibility endpoint.
            S(
                "POST", "/compatibility/subjects/users-value/versions/latest", body: Body.schema(u1), 200,
                #"{"is_compatible":false}"#, writes: false),
            S(
                "POST", "/compatibility/subjects/users-value/versions/latest", q: ["verbose": "true"],
                body: Body.schema(u1),
                200, contains: #"{"is_compatible":false,"messages":["{errorType:'TYPE_MISMATCH'"#),
            S(
                "POST", "/compatibility/subjects/users-value/versions/1", body: Body.schema(u3), 200,
                #"{"is_compatible":true}"#),
            S(
                "POST", "/compatibility/subjects/users-value/versions/latest", q: ["verbose": "true"],
                body: Body.schema(bad),
                200, #"{"is_compatible":true,"messages":[]}"#),
            S(
                "POST", "/compatibility/subjects/nope/versions/latest", body: Body.schema(u1), 404,
                err(40401, "Subject 'nope' not found.")),
            S(
                "POST", "/compatibility/subjects/users-value/versions/99", body: Body.schema(u1), 404,
                err(40402, "Version 99 not found.")),
            S("POST", "/compatibility/subjects/nope/versions", body: Body.schema(u1), 200, #"{"is_compatible":true}"#),
            // Mode.
            S("GET", "/mode", 200, #"{"mode":"READWRITE"}"#),
            S("PUT", "/mode", body: #"{"mode":"READONLY"}"#, 200, #"{"mode":"READONLY"}"#, writes: true),
            S(
                "POST", "/subjects/users-value/versions", body: Body.schema(u3), 422,
                err(42205, "Subject users-value is in read-only mode")),
            S("DELETE", "/subjects/users-value", 422, err(42205, "Subject users-value is in read-only mode")),
            S(
                "PUT", "/mode", body: #"{"mode":"SOMETIMES"}"#, 422,
                err(42204, "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, and IMPORT")),
            S("PUT", "/mode", body: #"{"mode":"READWRITE"}"#, 200, #"{"mode":"READWRITE"}"#),
            S("PUT", "/mode/users-value", body: #"{"mode":"READONLY"}"#, 200, #"{"mode":"READONLY"}"#),
            S("GET", "/mode/users-value", 200, #"{"mode":"READONLY"}"#),
            S("GET", "/mode/other", 404, err(40409, "Subject 'other' does not have subject-level mode configured")),
            S("GET", "/mode/other", q: ["defaultToGlobal": "true"], 200, #"{"mode":"READWRITE"}"#),
            S("POST", "/subjects/users-value/versions", body: Body.schema(u3), 422, contains: #""error_code":42205"#),
            S("DELETE", "/mode/users-value", 200, #"{"mode":"READONLY"}"#, writes: true),
            S(
                "PUT", "/mode", body: #"{"mode":"IMPORT"}"#, 422,
                err(42205, "Cannot import since found existing subjects")),
            S("PUT", "/mode/imported-value", body: #"{"mode":"IMPORT"}"#, 200, #"{"mode":"IMPORT"}"#),
            S(
                "POST", "/subjects/imported-value/versions", body: Body.schema(u3, id: 100, version: 5), 200,
                #"{"id":100}"#),
            S(
                "GET", "/subjects/imported-value/versions/5", 200,
                #"{"subject":"imported-value","version":5,"id":100,"schema":\#(Body.quoted(u3))}"#),
            S(
                "POST", "/subjects/imported-value/versions", body: Body.schema(bad, id: 1, version: 6), 422,
                err(42207, "Overwrite new schema with id 1 is not permitted.")),
            S(
                "POST", "/subjects/users-value/versions", body: Body.schema(u3, id: 50), 422,
                err(42205, "Subject users-value is not in import mode")),
            S("PUT", "/mode/imported-value", body: #"{"mode":"READWRITE"}"#, 200, #"{"mode":"READWRITE"}"#),
            S("POST", "/subjects/other-value/versions", body: Body.schema(Schemas.address), 200, #"{"id":101}"#),
            // References.
            S("POST", "/subjects/common-address/versions", body: Body.schema(Schemas.address), 200, #"{"id":101}"#),
            S(
                "POST", "/subjects/customer-value/versions", body: Body.schema(Schemas.customer), 422,
                contains: #""error_code":42201"#),
            S(
                "POST", "/subjects/customer-value/versions",
                body: Body.schema(Schemas.customer, references: [("com.example.Address", "common-address", 9)]), 422,
                contains:
                    #""error_code":42201,"message":"Invalid schema: reference 'com.example.Address' to subject 'common-address' version 9 not found"#
            ),
            S(
                "POST", "/subjects/customer-value/versions",
                body: Body.schema(Schemas.customer, references: [("com.example.Address", "common-address", 1)]), 200,
                #"{"id":102}"#, writes: true),
            S(
                "POST", "/subjects/customer-value/versions",
                body: Body.schema(Schemas.customer, references: [("com.example.Address", "common-address", 1)]), 200,
                #"{"id":102}"#, writes: false),
            S(
                "GET", "/subjects/customer-value/versions/1", 200,
                #"{"subject":"customer-value","version":1,"id":102,"references":[{"name":"com.example.Address","subject":"common-address","version":1}],"schema":\#(Body.quoted(Schemas.customer))}"#
            ),
            S(
                "GET", "/schemas/ids/102", 200,
                #"{"references":[{"name":"com.example.Address","subject":"common-address","version":1}],"schema":\#(Body.quoted(Schemas.customer))}"#
            ),
            S("GET", "/subjects/common-address/versions/1/referencedby", 200, "[102]"),
            S("GET", "/subjects/users-value/versions/1/referencedby", 200, "[]"),
            S(
                "DELETE", "/subjects/common-address/versions/1", 422,
                err(
                    42206,
                    "One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=common-address,version=1}."
                )),
            S("DELETE", "/subjects/common-address", 422, contains: #""error_code":42206"#),
            S(
                "POST", "/subjects/customer-value",
                body: Body.schema(Schemas.customer, references: [("com.example.Address", "common-address", 1)]), 200,
                contains: #""version":1,"id":102"#),
            // JSON Schema.
            S(
                "POST", "/subjects/json-value/versions", body: Body.schema(Schemas.jsonObject, type: "JSON"), 200,
                #"{"id":103}"#),
            S("GET", "/schemas/ids/103", 200, #"{"schemaType":"JSON","schema":\#(Body.quoted(Schemas.jsonObject))}"#),
            S(
                "GET", "/subjects/json-value/versions/1", 200,
                #"{"subject":"json-value","version":1,"id":103,"schemaType":"JSON","schema":\#(Body.quoted(Schemas.jsonObject))}"#
            ),
            S(
                "POST", "/subjects/json-value/versions",
                body: Body.schema(#"{"type":"object","properties":{"a":{"type":"integer"}}}"#, type: "JSON"), 409,
                contains: #""error_code":409"#),
            // Malformed requests and unknown paths.
            S("POST", "/subjects/x/versions", body: "not json", 400, contains: #""error_code":400"#),
            S("POST", "/subjects/x/versions", body: "[1]", 422, contains: #""error_code":422"#),
            S("POST", "/subjects/x/versions", body: #"{"schema":5}"#, 422, contains: #""error_code":422"#),
            S("POST", "/subjects/x/versions", body: #"{}"#, 422, err(42201, "Empty schema")),
            S("POST", "/subjects/x/versions", body: Body.schema("{nope"), 422, contains: #""error_code":42201"#),
            S(
                "POST", "/subjects/x/versions", body: Body.schema(u1, type: "XML"), 422,
                err(42201, "Invalid schema type XML")),
            S(
                "POST", "/subjects/x/versions", body: Body.schema("syntax = \"proto3\";", type: "PROTOBUF"), 422,
                contains: #""error_code":42201"#),
            S("GET", "/nope", 404, err(404, "HTTP 404 Not Found")),
            S("GET", "/subjects/a/b/c/d/e/f", 404, err(404, "HTTP 404 Not Found")),
            S("PATCH", "/subjects", 405, err(405, "HTTP 405 Method Not Allowed")),
            S("GET", "/subjects/x", 405, err(405, "HTTP 405 Method Not Allowed")),
            // Percent-encoded subject names.
            S("POST", "/subjects/with%2Fslash/versions", body: Body.schema(u1), 200, #"{"id":1}"#),
            S("GET", "/subjects", q: ["subjectPrefix": "with"], 200, #"["with/slash"]"#),
            S("GET", "/subjects/bad%zz/versions", 404, err(404, "HTTP 404 Not Found")),
        ]
    }

    @Test func confluentWalkthrough() {
        let h = Harness()
        for step in Self.walkthrough {
            let outcome = h.send(step.method, step.path, query: step.query, body: step.body)
            let r = outcome.response
            #expect(r.status == step.status, "\(step): \(r.bodyText)")
            #expect(r.contentType == "application/vnd.schemaregistry.v1+json")
            if let expect = step.expect { #expect(r.bodyText == expect, "\(step)") }
            if let contains = step.contains { #expect(r.bodyText.contains(contains), "\(step): \(r.bodyText)") }
            if let writes = step.writes { #expect(!outcome.records.isEmpty == writes, "\(step)") }
            if r.status != 200 { #expect(outcome.records.isEmpty, "\(step) failed but writes") }
        }
        #expect(h.state.skippedRecords == 0)
    }

    /// The replay test: the records of the walkthrough rebuild a state that answers every GET the same.
    @Test func replayAnswersTheSame() {
        let h = Harness()
        for step in Self.walkthrough { h.send(step.method, step.path, query: step.query, body: step.body) }
        let fresh = h.replayed()
        #expect(fresh == h.state)
        #expect(fresh.skippedRecords == 0)
        let live = allReads(h.state), replayed = allReads(fresh)
        #expect(live.count > 100)
        for (k, v) in live { #expect(replayed[k] == v, "\(k)") }
    }

    /// Confluent's exact record formats for a registration, a soft delete, a hard delete, config and mode.
    @Test func recordFormats() {
        let h = Harness()
        var o = h.send("POST", "/subjects/s/versions", body: Body.schema(Schemas.userV1))
        #expect(
            o.records.map { String(decoding: $0.key, as: UTF8.self) } == [
                #"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#
            ])
        #expect(
            o.records.map { $0.value.map { String(decoding: $0, as: UTF8.self) } } == [
                #"{"subject":"s","version":1,"id":1,"schema":\#(Body.quoted(Schemas.userV1)),"deleted":false}"#
            ])
        o = h.send("POST", "/subjects/j/versions", body: Body.schema(Schemas.jsonObject, type: "JSON"))
        #expect(
            o.records.first?.value.map { String(decoding: $0, as: UTF8.self) }
                == #"{"subject":"j","version":1,"id":2,"schemaType":"JSON","schema":\#(Body.quoted(Schemas.jsonObject)),"deleted":false}"#
        )
        o = h.send("PUT", "/config/s", body: #"{"compatibility":"FULL"}"#)
        #expect(
            o.records == [
                RegistryRecord(
                    key: Array(#"{"keytype":"CONFIG","subject":"s","magic":0}"#.utf8),
                    value: Array(#"{"compatibilityLevel":"FULL"}"#.utf8))
            ])
        o = h.send("PUT", "/mode", body: #"{"mode":"READWRITE"}"#)
        #expect(
            o.records == [
                RegistryRecord(
                    key: Array(#"{"keytype":"MODE","subject":null,"magic":0}"#.utf8),
                    value: Array(#"{"mode":"READWRITE"}"#.utf8))
            ])
        o = h.send("DELETE", "/subjects/s")
        #expect(
            o.records == [
                RegistryRecord(
                    key: Array(#"{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}"#.utf8),
                    value: Array(#"{"subject":"s","version":1}"#.utf8)),
                RegistryRecord(key: Array(#"{"keytype":"CONFIG","subject":"s","magic":0}"#.utf8), value: nil),
            ])
        o = h.send("DELETE", "/subjects/s", query: ["permanent": "true"])
        #expect(
            o.records == [
                RegistryRecord(
                    key: Array(#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#.utf8),
                    value: nil)
            ])
        o = h.send("DELETE", "/subjects/j/versions/1")
        #expect(
            o.records.first?.value.map { String(decoding: $0, as: UTF8.self) }
                == #"{"subject":"j","version":1,"id":2,"schemaType":"JSON","schema":\#(Body.quoted(Schemas.jsonObject)),"deleted":true}"#
        )
    }

    /// Records as Confluent writes them (AVRO with and without schemaType, references, a global config with a
    /// null subject, NOOP, DELETE_SUBJECT, CLEAR_SUBJECT) are understood.
    @Test func appliesConfluentWrittenRecords() {
        let state = SchemaRegistryState()
        func put(_ k: String, _ v: String?) { state.apply(key: Array(k.utf8), value: v.map { Array($0.utf8) }) }
        put(#"{"keytype":"NOOP","magic":0}"#, nil)
        put(#"{"keytype":"CONFIG","subject":null,"magic":0}"#, #"{"compatibilityLevel":"NONE"}"#)
        put(
            #"{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}"#,
            #"{"subject":"a","version":1,"id":7,"schemaType":"AVRO","schema":"{\"type\":\"record\",\"name\":\"A\",\"namespace\":\"n\",\"fields\":[]}","deleted":false}"#
        )
        put(
            #"{"keytype":"SCHEMA","subject":"b","version":1,"magic":1}"#,
            #"{"subject":"b","version":1,"id":8,"schema":"{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":\"a\",\"type\":\"n.A\"}]}","references":[{"name":"n.A","subject":"a","version":1}],"deleted":false}"#
        )
        put(
            #"{"keytype":"SCHEMA","subject":"b","version":2,"magic":1}"#,
            #"{"subject":"b","version":2,"id":9,"schema":"\"string\"","references":[],"deleted":false}"#)
        #expect(state.skippedRecords == 0)
        func get(_ path: String, _ q: [String: String] = [:]) -> String {
            SchemaRegistryAPI.handle(RegistryRequest(method: "GET", path: path, query: q), state: state).response
                .bodyText
        }
        #expect(get("/config") == #"{"compatibilityLevel":"NONE"}"#)
        #expect(get("/subjects") == #"["a","b"]"#)
        #expect(get("/subjects/a/versions/1/referencedby") == "[8]")
        #expect(state.maxSchemaId == 9)
        put(#"{"keytype":"DELETE_SUBJECT","subject":"b","magic":0}"#, #"{"subject":"b","version":2}"#)
        #expect(get("/subjects") == #"["a"]"#)
        #expect(get("/subjects/b/versions", ["deleted": "true"]) == "[1,2]")
        #expect(get("/subjects/a/versions/1/referencedby") == "[]")
        put(#"{"keytype":"CLEAR_SUBJECT","subject":"b","magic":0}"#, #"{"subject":"b"}"#)
        #expect(get("/subjects", ["deleted": "true"]) == #"["a"]"#)
        // The next registration continues after the highest id and version ever seen.
        let h = SchemaRegistryAPI.handle(
            RegistryRequest(
                method: "POST", path: "/subjects/b/versions",
                body: Array(Body.schema(#""int""#).utf8)), state: state)
        #expect(h.response.bodyText == #"{"id":10}"#)
        #expect(
            h.records.first.map { String(decoding: $0.key, as: UTF8.self) }
                == #"{"keytype":"SCHEMA","subject":"b","version":3,"magic":1}"#)
        #expect(state.skippedRecords == 0)
    }
}
