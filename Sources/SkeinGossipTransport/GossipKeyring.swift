import Crypto
import Foundation

/// The cluster's gossip keys: every datagram is sealed with AES-256-GCM under the first key and opened with any of
/// them, so a key is rotated by adding the new one to every node's ring, then moving it first, then removing the
/// old one (as Serf and Consul do). A datagram that no key opens is dropped: a node with another cluster's key
/// never joins.
///
/// Datagram: version byte 1, the 12-byte nonce, the ciphertext, the 16-byte tag; the version byte is
/// authenticated too.
public struct GossipKeyring: Sendable {
    public static let version: UInt8 = 1
    /// The raw keys (SymmetricKey is not Sendable; making one from 32 bytes is cheap).
    private let rawKeys: [[UInt8]]
    private var keys: [SymmetricKey] { rawKeys.map { SymmetricKey(data: $0) } }

    public enum KeyError: Error, CustomStringConvertible {
        case empty
        case notBase64(index: Int)
        case wrongSize(index: Int, bytes: Int)

        public var description: String {
            switch self {
            case .empty: "the gossip keyring needs at least one key"
            case .notBase64(let i): "gossip key \(i + 1) is not base64"
            case .wrongSize(let i, let n): "gossip key \(i + 1) has \(n) bytes; AES-256 needs 32"
            }
        }
    }

    /// Keys as base64 text of 32 bytes each (`openssl rand -base64 32`), the first one encrypting.
    public init(base64Keys: [String]) throws(KeyError) {
        guard !base64Keys.isEmpty else { throw .empty }
        var keys: [[UInt8]] = []
        for (i, text) in base64Keys.enumerated() {
            guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)) else {
                throw .notBase64(index: i)
            }
            guard data.count == 32 else { throw .wrongSize(index: i, bytes: data.count) }
            keys.append([UInt8](data))
        }
        self.rawKeys = keys
    }

    /// A fresh random key, base64 (for generated configs).
    public static func generateKey() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    public func seal(_ plaintext: [UInt8]) -> [UInt8] {
        // Sealing with a valid key and a random nonce cannot fail.
        let box = try! AES.GCM.seal(plaintext, using: SymmetricKey(data: rawKeys[0]), authenticating: [Self.version])
        return [Self.version] + Array(box.combined!)
    }

    /// The plaintext, or nil when the datagram is not ours (wrong key, damaged, another version).
    public func open(_ datagram: [UInt8]) -> [UInt8]? {
        guard datagram.count >= 1 + 12 + 16, datagram[0] == Self.version,
            let box = try? AES.GCM.SealedBox(combined: datagram[1...])
        else { return nil }
        for key in keys {
            if let plain = try? AES.GCM.open(box, using: key, authenticating: [Self.version]) {
                return Array(plain)
            }
        }
        return nil
    }
}
