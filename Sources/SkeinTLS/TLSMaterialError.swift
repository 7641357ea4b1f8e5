/// Why TLS material cannot be created, loaded or used. Every case names the file involved, so that an operator
/// can fix it at once.
public enum TLSMaterialError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file the configuration names does not exist.
    case fileMissing(path: String, role: String)
    /// The file exists but cannot be read.
    case unreadable(path: String, reason: String)
    /// The file does not hold the PEM expected (a certificate or a private key).
    case invalidPEM(path: String, expected: String, reason: String)
    /// The private key is not the key of the certificate.
    case keyDoesNotMatchCertificate(certificatePath: String, keyPath: String)
    /// The certificate was not issued (signed) by the CA it is used with.
    case notIssuedByCA(certificatePath: String, caPath: String)
    /// `ClusterCertificates.create` found a file it would overwrite.
    case alreadyExists(path: String)
    /// A file cannot be written.
    case writeFailed(path: String, reason: String)
    /// A peer certificate carries no valid Skein node identity.
    case noNodeIdentity(reason: String)
    /// An argument that cannot be turned into a certificate (a node id, a host name).
    case invalidArgument(String)
    /// Certificate creation failed inside swift-certificates.
    case certificateCreationFailed(String)
    /// BoringSSL refused the material when building a TLS context.
    case contextCreationFailed(String)

    public var description: String {
        switch self {
        case .fileMissing(let path, let role): return "TLS \(role) file \(path) does not exist"
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .invalidPEM(let path, let expected, let reason):
            return "\(path) does not hold a PEM \(expected): \(reason)"
        case .keyDoesNotMatchCertificate(let certificatePath, let keyPath):
            return "private key \(keyPath) is not the key of certificate \(certificatePath)"
        case .notIssuedByCA(let certificatePath, let caPath):
            return "certificate \(certificatePath) is not issued by the CA \(caPath)"
        case .alreadyExists(let path):
            return "\(path) already exists (pass force to replace it)"
        case .writeFailed(let path, let reason): return "cannot write \(path): \(reason)"
        case .noNodeIdentity(let reason): return "certificate has no Skein node identity: \(reason)"
        case .invalidArgument(let message): return message
        case .certificateCreationFailed(let message): return "cannot create a certificate: \(message)"
        case .contextCreationFailed(let message): return "cannot build a TLS context: \(message)"
        }
    }
}
