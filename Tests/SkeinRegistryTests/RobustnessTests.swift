import SkeinSchemas
import Testing

@testable import SkeinRegistry

/// Malformed `_schemas` records and request bodies are skipped or refused, never a crash.
@Suite struct RobustnessTests {
    static let malformedRecords: [(String, String?)] = [
        ("", nil), ("", ""), ("not json", "{}"), ("[]", "{}"), ("null", nil), (#"{"keytype":5}"#, "{}"),
        (#"{"keytype":"UNKNOWN","magic":0}"#, "{}"), (#"{"keytype":"CONTEXT","magic":0}"#, "{}"),
        (#"{"keytype":"SCHEMA","magic":1}"#, "{}"), (#"{"keytype":"SCHEMA","subject":1,"version":1,"magic":1}"#, "{}"),
        (#"{"keytype":"SCHEMA","subject":"s","version":"1","magic":1}"#, "{}"),
        (#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#, "garbage"),
        (#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#, "{}"),
        (#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#, #"{"id":1}"#),
        (#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#, #"{"id":-1,"schema":"\"int\""}"#),
        (#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#, #"{"id":1.5,"schema":"\"int\""}"#),
        (#"{"keytype":"SCHEMA","subject":"s","version":0,"magic":1}"#, #"{"id":1,"schema":"\"int\""}"#),
        (
            #"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#,
            #"{"id":99999999999999999999,"schema":"\"int\""}"#
        ),
        (
            #"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#,
            #"{"id":1,"schema":"\"int\"","schemaType":"XML"}"#
        ),
        (
            #"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#,
            #"{"id":1,"schema":"\"int\"","references":[{}]}"#
        ),
        (#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#, #"{"id":1,"schema":"\"int\"","deleted":"yes"}"#),
        (#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#, #"{"subject":"t","id":1,"schema":"\"int\""}"#),
        (#"{"keytype":"CONFIG","subject":null,"magic":0}"#, #"{"compatibilityLevel":"SOMETIMES"}"#),
        (#"{"keytype":"CONFIG","subject":null,"magic":0}"#, "[]"),
        (#"{"keytype":"MODE","subject":"s","magic":0}"#, #"{"mode":"NAP"}"#),
        (#"{"keytype":"DELETE_SUBJECT","magic":0}"#, #"{"subject":"s","version":1}"#),
        (#"{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}"#, #"{"subject":"s"}"#),
        (#"{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}"#, #"{"subject":"t","version":1}"#),
    ]

    @Test func malformedRecordsAreSkipped() {
        let state = SchemaRegistryState()
        for (k, v) in Self.malformedRecords { state.apply(key: Array(k.utf8), value: v.map { Array($0.utf8) }) }
        #expect(state.skippedRecords == Self.malformedRecords.count)
        #expect(state == SchemaRegistryState())
        // Invalid UTF-8 and very deep nesting.
        state.apply(key: [0xFF, 0xFE, 0x7B], value: [0xC3])
        state.apply(key: Array(String(repeating: "[", count: 100_000).utf8), value: nil)
        #expect(state.skippedRecords == Self.malformedRecords.count + 2)
        // An id already used by a different schema is refused, as Confluent's validateUpdate does.
        state.apply(
            key: Array(#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#.utf8),
            value: Array(#"{"subject":"s","version":1,"id":1,"schema":"\"int\""}"#.utf8))
        state.apply(
            key: Array(#"{"keytype":"SCHEMA","subject":"t","version":1,"magic":1}"#.utf8),
            value: Array(#"{"subject":"t","version":1,"id":1,"schema":"\"long\""}"#.utf8))
        #expect(state.skippedRecords == Self.malformedRecords.count + 3)
        #expect(state.subjectNames(includeDeleted: true) == ["s"])
        // Tombstones of absent keys are harmless.
        state.apply(key: Array(#"{"keytype":"SCHEMA","subject":"zz","version":3,"magic":1}"#.utf8), value: nil)
        state.apply(key: Array(#"{"keytype":"CONFIG","subject":"zz","magic":0}"#.utf8), value: nil)
        #expect(state.skippedRecords == Self.malformedRecords.count + 3)
    }

    /// Valid records with random byte mutations: applying them never crashes, and the state still answers.
    @Test(arguments: 0..<20) func mutatedRecordsNeverCrash(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed) &+ 1000)
        let h = Harness()
        h.send("POST", "/subjects/a/versions", body: Body.schema(Schemas.userV1))
        h.send("POST", "/subjects/a/versions", body: Body.schema(Schemas.userV2))
        h.send("POST", "/subjects/c/versions", body: Body.schema(Schemas.address))
        h.send("PUT", "/config/a", body: #"{"compatibility":"FULL"}"#)
        h.send("PUT", "/mode/b", body: #"{"mode":"READONLY"}"#)
        h.send("DELETE", "/subjects/a/versions/1")
        h.send("DELETE", "/subjects/c")
        let state = SchemaRegistryState()
        for _ in 0..<200 {
            var r = h.log.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                if Bool.random(using: &rng), !r.key.isEmpty {
                    r.key[Int.random(in: 0..<r.key.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                } else if var v = r.value, !v.isEmpty {
                    v[Int.random(in: 0..<v.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    r.value = v
                }
            }
            state.apply(key: r.key, value: r.value)
        }
        #expect(state.skippedRecords + state.appliedRecords == 200)
        for (path, _) in allReads(state) { _ = path }
    }

    /// Random and truncated bodies on every writing endpoint answer 4xx without writing.
    @Test func malformedBodiesAreRefused() {
        var rng = SplitMix64(seed: 42)
        let h = Harness()
        h.send("POST", "/subjects/s/versions", body: Body.schema(Schemas.userV1))
        let endpoints: [(String, String)] = [
            ("POST", "/subjects/s/versions"), ("POST", "/subjects/s"), ("PUT", "/config"), ("PUT", "/config/s"),
            ("PUT", "/mode"), ("PUT", "/mode/s"), ("POST", "/compatibility/subjects/s/versions/latest"),
        ]
        let valid = Array(Body.schema(Schemas.userV2, references: [("x", "s", 1)]).utf8)
        var bodies: [[UInt8]] = [
            [], [0xFF], Array("null".utf8), Array("{".utf8), Array(#"{"schema":null}"#.utf8),
            Array(#"{"schema":"x","references":5}"#.utf8), Array(#"{"schema":"x","id":"1"}"#.utf8),
            Array(#"{"schema":"\"int\"","references":[{"name":"x","subject":"s","version":0}]}"#.utf8),
            Array(#"{"compatibility":5}"#.utf8), Array(#"{"mode":[]}"#.utf8),
            Array(String(repeating: "{\"a\":", count: 5000).utf8),
        ]
        for n in 0..<valid.count { bodies.append(Array(valid[0..<n])) }
        for _ in 0..<100 {
            bodies.append((0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        for (method, path) in endpoints {
            for body in bodies {
                let o = h.send(method, path, bytes: body)
                #expect(
                    (400..<500).contains(o.response.status), "\(method) \(path) \(body.count): \(o.response.bodyText)")
                #expect(o.records.isEmpty)
            }
        }
        #expect(h.state.versions(of: "s", includeDeleted: true).count == 1)
    }

    /// Odd paths and methods never crash and answer 4xx.
    @Test func oddPaths() {
        let h = Harness()
        for path in [
            "", "/", "//", "/subjects//versions", "/subjects/%", "/subjects/%E2%82", "/schemas/ids/-1",
            "/schemas/ids/99999999999999999999999", "/subjects/s/versions/99999999999", "/config/a/b",
            "/mode/a/b", "/compatibility", "/subjects/s/versions/1/other", "/subjects?deleted=true",
        ] {
            for method in ["GET", "POST", "PUT", "DELETE", "get", "HEAD"] {
                let o = h.send(method, path, body: "{}")
                #expect(o.response.status < 500, "\(method) \(path)")
            }
        }
    }
}
