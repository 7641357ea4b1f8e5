import Foundation
import NIOSSL
import SkeinModel
import X509

/// Where a node's TLS files are: the cluster CA (the only trust root), the node's certificate (chain) and its
/// private key, all PEM. `load()` reads and checks them.
public struct TLSMaterial: Sendable, Hashable {
    public var caPath: String
    public var certificatePath: String
    public var keyPath: String

    public init(caPath: String, certificatePath: String, keyPath: String) {
        self.caPath = caPath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// The files `ClusterCertificates.create` wrote for node `id` into `directory`.
    public static func node(_ id: BrokerId, directory: String) -> TLSMaterial {
        TLSMaterial(
            caPath: ClusterCertificates.caCertificatePath(in: directory),
            certificatePath: ClusterCertificates.nodeCertificatePath(id, in: directory),
            keyPath: ClusterCertificates.nodeKeyPath(id, in: directory))
    }

    /// Reads the three files and checks that they belong together: the key is the certificate's key and the
    /// certificate is issued by the CA.
    public func load() throws -> LoadedTLSMaterial {
        let caText = try ClusterCertificates.readText(caPath, role: "CA certificate")
        let certificateText = try ClusterCertificates.readText(certificatePath, role: "certificate")
        let keyText = try ClusterCertificates.readText(keyPath, role: "private key")

        let trustRoots = try Self.certificates(caText, path: caPath)
        let chain = try Self.certificates(certificateText, path: certificatePath)
        let caCertificates = try trustRoots.map { try Self.x509($0, path: caPath) }
        let chainCertificates = try chain.map { try Self.x509($0, path: certificatePath) }

        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: keyText)
        } catch {
            throw TLSMaterialError.invalidPEM(path: keyPath, expected: "private key", reason: "\(error)")
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(bytes: Array(keyText.utf8), format: .pem)
        } catch {
            throw TLSMaterialError.invalidPEM(path: keyPath, expected: "private key", reason: "\(error)")
        }
        guard key.publicKey == chainCertificates[0].publicKey else {
            throw TLSMaterialError.keyDoesNotMatchCertificate(certificatePath: certificatePath, keyPath: keyPath)
        }
        guard Self.chainsToCA(chainCertificates, caCertificates: caCertificates) else {
            throw TLSMaterialError.notIssuedByCA(certificatePath: certificatePath, caPath: caPath)
        }
        return LoadedTLSMaterial(
            material: self, trustRoots: trustRoots, certificateChain: chain, privateKey: privateKey,
            nodeId: try? NodeIdentity.nodeId(of: chainCertificates[0]))
    }

    private static func certificates(_ text: String, path: String) throws -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(text.utf8))
        } catch {
            throw TLSMaterialError.invalidPEM(path: path, expected: "certificate", reason: "\(error)")
        }
        guard !certificates.isEmpty else {
            throw TLSMaterialError.invalidPEM(path: path, expected: "certificate", reason: "no certificate found")
        }
        return certificates
    }

    private static func x509(_ certificate: NIOSSLCertificate, path: String) throws -> Certificate {
        do {
            return try Certificate(derEncoded: try certificate.toDERBytes())
        } catch {
            throw TLSMaterialError.invalidPEM(path: path, expected: "certificate", reason: "\(error)")
        }
    }

    /// Whether the leaf, through the rest of its chain if need be, is signed by one of the CA certificates.
    private static func chainsToCA(_ chain: [Certificate], caCertificates: [Certificate]) -> Bool {
        func signs(_ issuer: Certificate, _ subject: Certificate) -> Bool {
            issuer.subject == subject.issuer && issuer.publicKey.isValidSignature(subject.signature, for: subject)
        }
        for (i, certificate) in chain.enumerated() {
            if caCertificates.contains(where: { signs($0, certificate) }) { return true }
            guard i + 1 < chain.count, signs(chain[i + 1], certificate) else { return false }
        }
        return false
    }
}

/// Whether a Kafka TLS listener asks clients for a certificate (Kafka's `ssl.client.auth`, without
/// `requested`).
public enum KafkaClientAuthentication: String, Sendable, CaseIterable {
    /// Clients authenticate the broker only.
    case none
    /// Clients must present a certificate issued by the cluster CA.
    case required
}

/// A node's TLS material, read and checked, ready to build TLS configurations.
public struct LoadedTLSMaterial: Sendable {
    public let material: TLSMaterial
    /// The cluster CA: the only trust root for peers (never the system roots).
    public let trustRoots: [NIOSSLCertificate]
    /// The node's certificate first, then any intermediates.
    public let certificateChain: [NIOSSLCertificate]
    public let privateKey: NIOSSLPrivateKey
    /// The node id in the certificate (its URI SAN), nil for a certificate without node identity.
    public let nodeId: BrokerId?

    /// The internal RPC, accepting side: TLS 1.3, the peer must present a certificate issued by the cluster
    /// CA. Host names are not verified (peers dial by address); the node id in the certificate is checked
    /// instead, with `NodeIdentity`.
    public func rpcServerConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        restrictToCluster(&configuration)
        return configuration
    }

    /// The internal RPC, dialing side: presents the node's certificate and requires one issued by the cluster
    /// CA from the server.
    public func rpcClientConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = certificateChain.map { .certificate($0) }
        configuration.privateKey = .privateKey(privateKey)
        restrictToCluster(&configuration)
        return configuration
    }

    private func restrictToCluster(_ configuration: inout TLSConfiguration) {
        configuration.trustRoots = .certificates(trustRoots)
        configuration.additionalTrustRoots = []
        configuration.certificateVerification = .noHostnameVerification
        configuration.minimumTLSVersion = .tlsv13
        configuration.renegotiationSupport = .none
    }

    /// A Kafka TLS listener: the node's certificate, TLS 1.2 or later (Kafka clients still use 1.2), and
    /// with `required` a client certificate issued by the cluster CA.
    public func kafkaServerConfiguration(clientAuthentication: KafkaClientAuthentication) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        switch clientAuthentication {
        case .none:
            configuration.certificateVerification = .none
        case .required:
            configuration.trustRoots = .certificates(trustRoots)
            configuration.certificateVerification = .noHostnameVerification
            configuration.sendCANameList = true
        }
        return configuration
    }

    /// A context for `configuration`, with BoringSSL's refusal turned into a `TLSMaterialError`.
    public func makeContext(_ configuration: TLSConfiguration) throws -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSMaterialError.contextCreationFailed("\(material.certificatePath): \(error)")
        }
    }
}

/// The node identity in a certificate: the URI SAN `skein://node/N`, which must agree with the subject
/// common name `skein-node-N`. Only meaningful for a certificate that TLS has already verified against the
/// cluster CA.
public enum NodeIdentity {
    public static func nodeId(of certificate: NIOSSLCertificate) throws -> BrokerId {
        let parsed: Certificate
        do {
            parsed = try Certificate(derEncoded: try certificate.toDERBytes())
        } catch {
            throw TLSMaterialError.noNodeIdentity(reason: "unparseable certificate: \(error)")
        }
        return try nodeId(of: parsed)
    }

    public static func nodeId(of certificate: Certificate) throws -> BrokerId {
        let names: SubjectAlternativeNames?
        do {
            names = try certificate.extensions.subjectAlternativeNames
        } catch {
            throw TLSMaterialError.noNodeIdentity(reason: "malformed subjectAltName: \(error)")
        }
        var ids: [BrokerId] = []
        for case .uniformResourceIdentifier(let uri) in names ?? SubjectAlternativeNames([]) {
            guard uri.hasPrefix(ClusterCertificates.nodeURIPrefix) else { continue }
            guard let id = parseId(uri.dropFirst(ClusterCertificates.nodeURIPrefix.count)) else {
                throw TLSMaterialError.noNodeIdentity(reason: "malformed node URI '\(uri)'")
            }
            ids.append(id)
        }
        guard let id = ids.first else {
            throw TLSMaterialError.noNodeIdentity(reason: "no '\(ClusterCertificates.nodeURIPrefix)N' URI SAN")
        }
        guard ids.allSatisfy({ $0 == id }) else {
            throw TLSMaterialError.noNodeIdentity(reason: "several node URIs: \(ids.map(\.rawValue))")
        }
        let commonNames = certificate.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }
            .compactMap { String($0.value) }
        let expected = ClusterCertificates.nodeCommonNamePrefix + String(id.rawValue)
        guard commonNames == [expected] else {
            throw TLSMaterialError.noNodeIdentity(
                reason: "subject CN \(commonNames) does not match the node URI (expected '\(expected)')")
        }
        return id
    }

    private static func parseId(_ text: Substring) -> BrokerId? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int32(text) else { return nil }
        return BrokerId(n)
    }
}
