import SkeinSchemas
import Testing

@testable import SkeinRegistry

/// A live registry as the shell runs it: `handle`, then append and apply the records of a write.
final class Harness {
    let state = SchemaRegistryState()
    private(set) var log: [RegistryRecord] = []

    @discardableResult
    func send(_ method: String, _ path: String, query: [String: String] = [:], body: String? = nil) -> RegistryOutcome {
        send(method, path, query: query, bytes: Array((body ?? "").utf8))
    }

    @discardableResult
    func send(_ method: String, _ path: String, query: [String: String] = [:], bytes: [UInt8]) -> RegistryOutcome {
        let outcome = SchemaRegistryAPI.handle(
            RegistryRequest(method: method, path: path, query: query, body: bytes),
            state: state)
        for r in outcome.records {
            state.apply(key: r.key, value: r.value)
            log.append(r)
        }
        return outcome
    }

    /// A fresh state rebuilt from this harness's log.
    func replayed() -> SchemaRegistryState {
        let fresh = SchemaRegistryState()
        for r in log { fresh.apply(key: r.key, value: r.value) }
        return fresh
    }
}

/// JSON text helpers for request bodies.
enum Body {
    static func schema(
        _ schema: String, type: String? = nil, references: [(String, String, Int)] = [],
        id: Int? = nil, version: Int? = nil
    ) -> String {
        var o = JSONObject([("schema", .string(schema))])
        if let type { o["schemaType"] = .string(type) }
        if !references.isEmpty {
            o["references"] = .array(
                references.map {
                    .object(
                        JSONObject([
                            ("name", .string($0.0)), ("subject", .string($0.1)),
                            ("version", .number(JSONNumber(Int64($0.2)))),
                        ]))
                })
        }
        if let id { o["id"] = .number(JSONNumber(Int64(id))) }
        if let version { o["version"] = .number(JSONNumber(Int64(version))) }
        return JSONValue.object(o).compactString
    }

    /// A JSON string literal.
    static func quoted(_ s: String) -> String { JSONValue.string(s).compactString }
}

/// Every read the API offers over `state`, keyed by request, for comparing two states.
func allReads(_ state: SchemaRegistryState) -> [String: RegistryResponse] {
    var out: [String: RegistryResponse] = [:]
    func get(_ path: String, _ query: [String: String] = [:]) {
        let r = SchemaRegistryAPI.handle(RegistryRequest(method: "GET", path: path, query: query), state: state)
        out[path + "?" + query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")] =
            r.response
        #expect(r.records.isEmpty, "GET \(path) wants to write")
    }
    get("/subjects")
    get("/subjects", ["deleted": "true"])
    get("/config")
    get("/mode")
    get("/schemas/types")
    let subjects = state.subjectNames(includeDeleted: true) + ["never-registered"]
    for s in subjects {
        for q in [[:], ["deleted": "true"]] {
            get("/subjects/\(s)/versions", q)
            get("/subjects/\(s)/versions/latest", q)
        }
        get("/config/\(s)")
        get("/config/\(s)", ["defaultToGlobal": "true"])
        get("/mode/\(s)")
        get("/mode/\(s)", ["defaultToGlobal": "true"])
        for v in 1...(state.nextVersion(of: s)) {
            for q in [[:], ["deleted": "true"]] {
                get("/subjects/\(s)/versions/\(v)", q)
                get("/subjects/\(s)/versions/\(v)/schema", q)
            }
            get("/subjects/\(s)/versions/\(v)/referencedby")
        }
    }
    for id in 1...(state.maxSchemaId + 1) {
        get("/schemas/ids/\(id)")
        get("/schemas/ids/\(id)/schema")
        for q in [[:], ["deleted": "true"]] {
            get("/schemas/ids/\(id)/versions", q)
            get("/schemas/ids/\(id)/subjects", q)
        }
    }
    return out
}

/// SplitMix64: a small deterministic generator for seeded tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
