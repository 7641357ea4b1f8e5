import Testing
@testable import SkeinSchemas

/// Bad input must produce typed errors, never a crash: every prefix and many deterministic mutations of
/// valid schemas are fed to the parsers and, when they parse, to canonicalization and compatibility.
@Suite struct RobustnessTests {
    private static let avroSamples = fastavroVectors.map(\.schema)
    private static let jsonSamples = jsonSchemaCases.flatMap { [$0.old, $0.new] }

    /// Deterministic linear congruential generator.
    private struct LCG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
    }

    private static func mutations(of text: String, count: Int, seed: UInt64) -> [String] {
        let alphabet = Array("{}[]\":,0123456789-.eEabcnrtufls\\ #/$".utf8)
        var rng = LCG(state: seed)
        var out: [String] = []
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return [] }
        for _ in 0..<count {
            var b = bytes
            let edits = 1 + Int(rng.next() % 3)
            for _ in 0..<edits {
                let pos = Int(rng.next() % UInt64(b.count))
                switch rng.next() % 3 {
                case 0: b[pos] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: b.remove(at: pos); if b.isEmpty { b = [0x30] }
                default: b.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: pos)
                }
            }
            out.append(String(decoding: b, as: UTF8.self))
        }
        return out
    }

    @Test func avroPrefixesAndMutations() {
        var parsed = 0
        let reference = (try? AvroSchema.parse(#"{"type":"record","name":"R","fields":[]}"#))
        for (i, sample) in Self.avroSamples.enumerated() {
            var inputs = (0..<sample.count).map { String(sample.prefix($0)) }
            inputs += Self.mutations(of: sample, count: 60, seed: UInt64(i + 1))
            for input in inputs {
                guard let s = try? AvroSchema.parse(input) else { continue }
                parsed += 1
                _ = s.canonicalForm
                _ = s.rabinFingerprint
                if let reference {
                    _ = AvroCompatibility.check(reader: s, writer: reference)
                    _ = AvroCompatibility.check(reader: reference, writer: s)
                }
                _ = AvroCompatibility.check(reader: s, writer: s)
            }
        }
        #expect(parsed > 0)
    }

    @Test func jsonSchemaPrefixesAndMutations() {
        var parsed = 0
        for (i, sample) in Self.jsonSamples.enumerated() where i % 3 == 0 {
            var inputs = (0..<sample.count).map { String(sample.prefix($0)) }
            inputs += Self.mutations(of: sample, count: 30, seed: UInt64(1000 + i))
            var ok: [JSONSchema] = []
            for input in inputs {
                guard let s = try? JSONSchema.parse(input) else { continue }
                parsed += 1
                _ = s.canonicalString
                ok.append(s)
            }
            for (a, b) in zip(ok, ok.dropFirst()) {
                _ = JSONSchemaCompatibility.diff(original: a, update: b)
            }
        }
        #expect(parsed > 0)
    }

    @Test func deeplyNestedSchemasDoNotCrash() {
        let depth = 400
        let avro = String(repeating: #"{"type":"array","items":"#, count: depth) + #""int""# + String(repeating: "}", count: depth)
        if let s = try? AvroSchema.parse(avro) {
            #expect(AvroCompatibility.check(reader: s, writer: s).isEmpty)
        }
        let json = String(repeating: #"{"items":"#, count: depth) + "{}" + String(repeating: "}", count: depth)
        if let s = try? JSONSchema.parse(json) {
            #expect(JSONSchemaCompatibility.diff(original: s, update: s).isEmpty)
        }
        // Different deep schemas are not compared past the depth cap: a clear error, not a verdict.
        let other = String(repeating: #"{"items":"#, count: depth) + #"{"type":"string"}"# + String(repeating: "}", count: depth)
        if let a = try? JSONSchema.parse(json), let b = try? JSONSchema.parse(other) {
            #expect(JSONSchemaCompatibility.diff(original: a, update: b).map(\.type) == [.comparisonTooComplex])
        }
        let tooDeep = String(repeating: "[", count: 100_000)
        #expect(throws: AvroSchemaError.self) { try AvroSchema.parse(tooDeep) }
    }

    /// Nested `not`s and combinators are compared with bounded work (one reversed walk per `not`, one
    /// comparison per distinct pair of subschemas), not exponentially in the nesting depth.
    @Test func nestedNotAndCombinatorsAreBounded() throws {
        let depth = 60
        let nots = { (leaf: String) in String(repeating: #"{"not":"#, count: depth) + leaf + String(repeating: "}", count: depth) }
        let a = try JSONSchema.parse(nots(#"{"type":"string"}"#))
        let b = try JSONSchema.parse(nots(#"{"type":"integer"}"#))
        #expect(!JSONSchemaCompatibility.diff(original: a, update: b).isEmpty)
        let anyOfs = { (leaf: String) in
            String(repeating: #"{"anyOf":[{"type":"null"},"#, count: 30) + leaf + String(repeating: "]}", count: 30)
        }
        let c = try JSONSchema.parse(anyOfs(#"{"type":"string"}"#))
        let d = try JSONSchema.parse(anyOfs(#"{"type":["string","null"]}"#))
        #expect(JSONSchemaCompatibility.diff(original: c, update: d).allSatisfy { $0.isCompatible })
        #expect(!JSONSchemaCompatibility.diff(original: d, update: c).allSatisfy { $0.isCompatible })
    }
}
