import SkeinSchemas
import Testing

@testable import SkeinRegistry

/// Seeded random walks of writes and reads, checking the registry's invariants against a model of what was answered.
@Suite struct RandomizedTests {
    /// Field pool for generated record schemas: (name, type, default JSON or nil).
    static let fields: [(String, String, String?)] = [
        ("id", #""int""#, nil), ("id", #""long""#, nil), ("name", #""string""#, nil),
        ("name", #"["null","string"]"#, "null"), ("age", #""int""#, "0"),
        ("tags", #"{"type":"array","items":"string"}"#, "[]"),
        ("score", #""double""#, "1.5"), ("flag", #""boolean""#, nil),
    ]

    static func randomSchema(_ rng: inout SplitMix64) -> String {
        var names: Set<String> = []
        var parts: [String] = []
        for f in fields.shuffled(using: &rng) where Bool.random(using: &rng) && names.insert(f.0).inserted {
            parts.append(#"{"name":"\#(f.0)","type":\#(f.1)"# + (f.2.map { #","default":\#($0)"# } ?? "") + "}")
        }
        return #"{"type":"record","name":"R","fields":[\#(parts.joined(separator: ","))]}"#
    }

    /// What a walk exercised: response counts by (first path segment, method, status).
    typealias Coverage = [String: Int]

    @discardableResult
    static func runSeed(_ seed: UInt64, operations: Int = 60) -> Coverage {
        var coverage: Coverage = [:]
        var rng = SplitMix64(seed: seed)
        let h = Harness()
        let subjects = ["a", "b", "c"]
        let levels = CompatibilityLevel.allCases.map(\.rawValue)
        var textOfId: [Int: String] = [:]  // every id ever answered, with its schema text: never reassigned
        var maxIdSeen = 0
        var maxVersionSeen: [String: Int] = [:]
        for step in 0..<operations {
            let subject = subjects.randomElement(using: &rng)!
            let roll = Int.random(in: 0..<100, using: &rng)
            let outcome: RegistryOutcome
            let op: String
            switch roll {
            case 0..<40:
                op = "register"
                let reuse = !textOfId.isEmpty && Int.random(in: 0..<3, using: &rng) == 0
                let schema = reuse ? textOfId[textOfId.keys.sorted().randomElement(using: &rng)!]! : randomSchema(&rng)
                let liveId = h.state.id(for: SchemaIdentity(type: .avro, text: schema, references: []))
                outcome = h.send("POST", "/subjects/\(subject)/versions", body: Body.schema(schema))
                let r = outcome.response
                #expect([200, 409, 422].contains(r.status), "seed \(seed) step \(step): \(r.bodyText)")
                if r.status == 200, let id = JSONValue.parse(bytes: r.body)?.objectValue?["id"]?.intValue {
                    if let liveId {
                        #expect(id == liveId, "seed \(seed): \(schema) registered as \(id), not \(liveId)")
                    }
                    if let previous = textOfId[id] {
                        #expect(previous == schema, "seed \(seed): id \(id) reused for another schema")
                    } else {
                        #expect(id > maxIdSeen, "seed \(seed): new id \(id) not above \(maxIdSeen)")
                        textOfId[id] = schema
                    }
                    maxIdSeen = max(maxIdSeen, id)
                    if let record = outcome.records.first,
                        let stored = StoredSchema(
                            bytes: record.value ?? [], subject: subject,
                            version: h.state.versions(of: subject, includeDeleted: true).last?.version ?? 0)
                    {
                        #expect(stored.version > maxVersionSeen[subject] ?? 0, "seed \(seed): version not increasing")
                        maxVersionSeen[subject] = stored.version
                    }
                    let byId = SchemaRegistryAPI.handle(
                        RegistryRequest(method: "GET", path: "/schemas/ids/\(id)/schema"),
                        state: h.state
                    ).response
                    #expect(byId.bodyText == schema)
                    let lookup = h.send("POST", "/subjects/\(subject)", body: Body.schema(schema)).response
                    #expect(lookup.status == 200 && lookup.bodyText.contains(#""id":\#(id)"#), "seed \(seed)")
                }
            case 40..<50:
                op = "delete-version"
                let versions = h.state.versions(of: subject, includeDeleted: true)
                let v = versions.randomElement(using: &rng).map { String($0.version) } ?? "latest"
                let q = Bool.random(using: &rng) ? ["permanent": "true"] : [:]
                outcome = h.send("DELETE", "/subjects/\(subject)/versions/\(v)", query: q)
                #expect([200, 404, 422].contains(outcome.response.status))
            case 50..<57:
                op = "delete-subject"
                let q = Bool.random(using: &rng) ? ["permanent": "true"] : [:]
                outcome = h.send("DELETE", "/subjects/\(subject)", query: q)
                #expect([200, 404, 422].contains(outcome.response.status))
            case 57..<67:
                op = "config"
                let level = levels.randomElement(using: &rng)!
                let path = Bool.random(using: &rng) ? "/config" : "/config/\(subject)"
                outcome = h.send("PUT", path, body: #"{"compatibility":"\#(level)"}"#)
                #expect(outcome.response.status == 200)
            case 67..<72:
                op = "mode"
                let mode = ["READWRITE", "READWRITE", "READONLY"].randomElement(using: &rng)!
                let path = Bool.random(using: &rng) ? "/mode" : "/mode/\(subject)"
                outcome = h.send("PUT", path, body: #"{"mode":"\#(mode)"}"#)
                #expect(outcome.response.status == 200)
            case 72..<76:
                op = "delete-config-mode"
                outcome = h.send("DELETE", Bool.random(using: &rng) ? "/config/\(subject)" : "/mode/\(subject)")
                #expect([200, 404].contains(outcome.response.status))
            case 76..<85:
                op = "compatibility"
                outcome = h.send(
                    "POST", "/compatibility/subjects/\(subject)/versions/latest",
                    query: ["verbose": "true"], body: Body.schema(randomSchema(&rng)))
                #expect([200, 404].contains(outcome.response.status))
                #expect(outcome.records.isEmpty)
            default:
                op = "get"
                let path = [
                    "/subjects", "/subjects/\(subject)/versions", "/subjects/\(subject)/versions/latest",
                    "/schemas/ids/\(Int.random(in: 1...max(1, maxIdSeen + 1), using: &rng))",
                ]
                .randomElement(using: &rng)!
                outcome = h.send("GET", path, query: Bool.random(using: &rng) ? ["deleted": "true"] : [:])
                #expect([200, 404].contains(outcome.response.status))
                #expect(outcome.records.isEmpty)
            }
            #expect(outcome.response.status < 500, "seed \(seed) step \(step): \(outcome.response.bodyText)")
            coverage["\(op) \(outcome.response.status) \(outcome.records.isEmpty ? "read" : "write")", default: 0] += 1
            // Live invariants: each version's id maps to one schema; stored versions are unique per subject.
            for s in subjects {
                let versions = h.state.versions(of: s, includeDeleted: true).map(\.version)
                #expect(versions == versions.sorted() && Set(versions).count == versions.count)
                #expect((versions.last ?? 0) <= maxVersionSeen[s] ?? 0)
                for v in h.state.versions(of: s, includeDeleted: true) {
                    #expect(textOfId[v.id] == v.schema, "seed \(seed): \(s) v\(v.version) id \(v.id)")
                }
            }
        }
        #expect(h.state.skippedRecords == 0)
        let fresh = h.replayed()
        #expect(fresh == h.state, "seed \(seed): replayed state differs")
        #expect(allReads(fresh) == allReads(h.state), "seed \(seed): replayed reads differ")
        return coverage
    }

    /// The walks reach every kind of outcome: accepted and refused registrations, soft and hard deletes, ...
    @Test func walksCoverTheAPI() {
        var total: Coverage = [:]
        for seed in 0..<20 { total.merge(Self.runSeed(UInt64(seed)), uniquingKeysWith: +) }
        for key in [
            "register 200 write", "register 200 read", "register 409 read", "register 422 read",
            "delete-version 200 write", "delete-version 404 read", "delete-version 422 read",
            "delete-subject 200 write", "delete-subject 404 read", "config 200 write", "mode 200 write",
            "delete-config-mode 200 write", "compatibility 200 read", "get 200 read", "get 404 read",
        ] {
            #expect(total[key, default: 0] > 0, "never saw \(key): \(total.sorted { $0.key < $1.key })")
        }
    }

    @Test(arguments: 0..<200) func randomWalk(seed: Int) {
        Self.runSeed(UInt64(seed))
    }
}
