import Testing
@testable import SkeinSchemas

/// Independent re-implementation of the specification's CRC-64-AVRO algorithm, written bit by bit.
private func specRabin(_ text: String) -> UInt64 {
    let empty: UInt64 = 0xc15d213aa4d7a795
    var fp = empty
    for byte in text.utf8 {
        var entry = (fp ^ UInt64(byte)) & 0xff
        for _ in 0..<8 { entry = (entry & 1) == 1 ? (entry >> 1) ^ empty : entry >> 1 }
        fp = (fp >> 8) ^ entry
    }
    return fp
}

@Suite struct CanonicalFormTests {
    @Test(arguments: fastavroVectors.indices)
    func fastavroVector(_ i: Int) throws {
        let v = fastavroVectors[i]
        let schema = try AvroSchema.parse(v.schema)
        #expect(schema.canonicalForm == v.canonical)
        #expect(schema.rabinFingerprint == v.rabin)
        #expect(specRabin(v.canonical) == v.rabin)
        #expect(Digest.hex(schema.md5Fingerprint) == v.md5)
        #expect(Digest.hex(schema.sha256Fingerprint) == v.sha256)
    }

    @Test func intFingerprintKnownValue() throws {
        let s = try AvroSchema.parse(#""int""#)
        #expect(s.rabinFingerprint == 0x7275d51a3f395c8f)
        #expect(Digest.hex(AvroFingerprint.littleEndianBytes(s.rabinFingerprint)) == "8f5c393f1ad57572")
        #expect(AvroFingerprint.rabin([]) == AvroFingerprint.empty)
    }

    @Test func digestKnownVectors() {
        #expect(Digest.hex(Digest.md5([])) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(Digest.hex(Digest.md5(Array("The quick brown fox jumps over the lazy dog".utf8))) == "9e107d9d372bb6826bd81d3542a419d6")
        #expect(Digest.hex(Digest.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = [UInt8](repeating: 0x61, count: 1000)
        #expect(Digest.hex(Digest.sha256(long)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func canonicalFormStripsAndOrders() throws {
        let s = try AvroSchema.parse(#"""
        { "fields" : [ {"type": {"type":"int","logicalType":"date"}, "name":"d", "doc":"x", "default": 0} ],
          "doc": "ignored", "name": "Rec", "namespace": "ns", "type": "record", "aliases": ["Old"], "custom": 1 }
        """#)
        #expect(s.canonicalForm == #"{"name":"ns.Rec","type":"record","fields":[{"name":"d","type":"int"}]}"#)
    }

    @Test func canonicalFormIdenticalForEquivalentSchemas() throws {
        let a = try ParsedSchema.parse(#"{"type":"record","name":"A","namespace":"n","fields":[{"name":"x","type":{"type":"string"}}]}"#, type: .avro)
        let b = try ParsedSchema.parse(#"{"name":"n.A","type":"record","doc":"d","fields":[{"name":"x","type":"string","default":"q"}]}"#, type: .avro)
        #expect(a.isIdentical(to: b))
        #expect(a.compactString != b.compactString)
    }

    @Test func compactFormKeepsAttributesAndOrder() throws {
        let text = "{ \"type\" : \"record\",\n \"name\" : \"A\", \"doc\": \"d\",\n \"fields\" : [ { \"name\":\"n\", \"type\":\"long\", \"default\": 10 } ] }"
        let s = try AvroSchema.parse(text)
        #expect(s.compactString == #"{"type":"record","name":"A","doc":"d","fields":[{"name":"n","type":"long","default":10}]}"#)
    }

    @Test func referencedTypesAreInlinedAtFirstUse() throws {
        let address = try AvroSchema.parse(#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"string"}]}"#)
        let user = try AvroSchema.parse(#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"home","type":"Address"},{"name":"work","type":"com.acme.Address"}]}"#,
                                        referencedSchemas: [address])
        #expect(user.canonicalForm == #"{"name":"com.acme.User","type":"record","fields":[{"name":"home","type":{"name":"com.acme.Address","type":"record","fields":[{"name":"city","type":"string"}]}},{"name":"work","type":"com.acme.Address"}]}"#)
        #expect(user.definedNames == ["com.acme.User"])
    }
}
