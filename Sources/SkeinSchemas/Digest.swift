import Crypto

/// The digests Schema Registry fingerprints use, from swift-crypto.
public enum Digest {
    /// Lowercase hexadecimal.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// MD5 (what Confluent's schema lookups fingerprint with; not for security).
    public static func md5(_ message: [UInt8]) -> [UInt8] { Array(Insecure.MD5.hash(data: message)) }

    public static func sha256(_ message: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: message)) }
}
