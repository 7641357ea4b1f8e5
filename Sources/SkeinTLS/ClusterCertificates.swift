import Crypto
import Foundation
import SkeinModel
import X509

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The cluster's certificate authority and the certificates it issues: one per node (server and client at
/// once, for the internal RPC and the Kafka TLS listeners) and optionally per Kafka client. Keys are P-256 ECDSA,
/// signatures ECDSA with SHA-256. Files are PEM; private keys are created with mode 0600.
///
/// A node certificate for node N has the subject CN `skein-node-N` and the URI SAN `skein://node/N` (the
/// identity the internal RPC checks), DNS SANs `localhost` plus the extra host names, IP SANs 127.0.0.1 plus the
/// extra addresses, and extendedKeyUsage serverAuth + clientAuth.
public enum ClusterCertificates {
    /// How long certificates stay valid unless told otherwise.
    public static let defaultCAValidityDays = 3650
    public static let defaultNodeValidityDays = 825
    /// Subject common names of node certificates start with this, followed by the node id.
    public static let nodeCommonNamePrefix = "skein-node-"
    /// The URI SAN of a node certificate is this followed by the node id.
    public static let nodeURIPrefix = "skein://node/"

    /// The paths of the files `create` writes into a directory.
    public static func caCertificatePath(in directory: String) -> String { join(directory, "ca.pem") }
    public static func caKeyPath(in directory: String) -> String { join(directory, "ca.key") }
    public static func nodeCertificatePath(_ id: BrokerId, in directory: String) -> String {
        join(directory, "node-\(id.rawValue).pem")
    }
    public static func nodeKeyPath(_ id: BrokerId, in directory: String) -> String {
        join(directory, "node-\(id.rawValue).key")
    }
    public static func clientCertificatePath(_ name: String, in directory: String) -> String {
        join(directory, "client-\(name).pem")
    }
    public static func clientKeyPath(_ name: String, in directory: String) -> String {
        join(directory, "client-\(name).key")
    }

    /// What `create` did.
    public struct CreatedFiles: Sendable, Equatable {
        /// Whether a new CA was created (false: an existing one in the directory issued the certificates).
        public var createdCA: Bool
        /// Every file written, in order.
        public var written: [String]
    }

    /// Writes the cluster CA (`ca.pem`, `ca.key`) unless one is in the directory already, then a certificate
    /// and key per node (`node-N.pem`, `node-N.key`) and per client name (`client-NAME.pem`, `client-NAME.key`).
    ///
    /// An existing CA is kept and issues the new certificates, so that a node can be added later. With
    /// `force`, a new CA replaces the existing one, and existing node or client files named by the call are
    /// replaced; without it, any of them existing is an error and nothing is written.
    ///
    /// - Parameters:
    ///   - hosts: extra DNS names and IP addresses (v4 or v6) for every node certificate, besides `localhost`
    ///     and 127.0.0.1.
    ///   - clientNames: Kafka client certificates to issue (CN = the name, extendedKeyUsage clientAuth only,
    ///     no node identity: they cannot join the internal RPC).
    public static func create(
        directory: String, nodeIds: [BrokerId], hosts: [String] = [], clientNames: [String] = [],
        force: Bool = false, caValidityDays: Int = defaultCAValidityDays,
        nodeValidityDays: Int = defaultNodeValidityDays, now: Date = Date()
    ) throws -> CreatedFiles {
        guard Set(nodeIds).count == nodeIds.count else {
            throw TLSMaterialError.invalidArgument("node ids must be unique, got \(nodeIds.map(\.rawValue))")
        }
        for id in nodeIds where id.rawValue < 0 {
            throw TLSMaterialError.invalidArgument("node id \(id) is negative")
        }
        for name in clientNames {
            try validateClientName(name)
        }
        guard caValidityDays > 0, nodeValidityDays > 0 else {
            throw TLSMaterialError.invalidArgument("validity must be at least one day")
        }
        let subjectAlternativeNames = try nodeSubjectAlternativeNames(hosts: hosts)

        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TLSMaterialError.writeFailed(path: directory, reason: "\(error)")
        }
        let caPath = caCertificatePath(in: directory)
        let caKeyFile = caKeyPath(in: directory)
        let caExists = FileManager.default.fileExists(atPath: caPath)
        var leafPaths: [String] = []
        for id in nodeIds { leafPaths += [nodeCertificatePath(id, in: directory), nodeKeyPath(id, in: directory)] }
        for name in clientNames {
            leafPaths += [clientCertificatePath(name, in: directory), clientKeyPath(name, in: directory)]
        }
        if !force {
            // Check everything first, so that a refusal writes nothing.
            for path in leafPaths where FileManager.default.fileExists(atPath: path) {
                throw TLSMaterialError.alreadyExists(path: path)
            }
            if !caExists && FileManager.default.fileExists(atPath: caKeyFile) {
                throw TLSMaterialError.alreadyExists(path: caKeyFile)
            }
        }

        var written: [String] = []
        let ca: IssuingCA
        let createdCA = !caExists || force
        if createdCA {
            ca = try makeCA(validityDays: caValidityDays, now: now)
            try writeFile(ca.certificatePEM, to: caPath, mode: 0o644, replace: force)
            try writeFile(ca.keyPEM, to: caKeyFile, mode: 0o600, replace: force)
            written += [caPath, caKeyFile]
        } else {
            ca = try IssuingCA.load(certificatePath: caPath, keyPath: caKeyFile)
        }
        for id in nodeIds {
            let (certificatePEM, keyPEM) = try ca.issue(
                commonName: nodeCommonNamePrefix + String(id.rawValue),
                subjectAlternativeNames: [.uniformResourceIdentifier(nodeURIPrefix + String(id.rawValue))]
                    + subjectAlternativeNames,
                usages: [.serverAuth, .clientAuth], validityDays: nodeValidityDays, now: now)
            let certificatePath = nodeCertificatePath(id, in: directory)
            let keyPath = nodeKeyPath(id, in: directory)
            try writeFile(certificatePEM, to: certificatePath, mode: 0o644, replace: force)
            try writeFile(keyPEM, to: keyPath, mode: 0o600, replace: force)
            written += [certificatePath, keyPath]
        }
        for name in clientNames {
            let (certificatePEM, keyPEM) = try ca.issue(
                commonName: name, subjectAlternativeNames: [], usages: [.clientAuth],
                validityDays: nodeValidityDays, now: now)
            let certificatePath = clientCertificatePath(name, in: directory)
            let keyPath = clientKeyPath(name, in: directory)
            try writeFile(certificatePEM, to: certificatePath, mode: 0o644, replace: force)
            try writeFile(keyPEM, to: keyPath, mode: 0o600, replace: force)
            written += [certificatePath, keyPath]
        }
        return CreatedFiles(createdCA: createdCA, written: written)
    }

    // MARK: building certificates

    /// A CA able to sign: its certificate and key.
    struct IssuingCA {
        let certificate: Certificate
        let key: Certificate.PrivateKey
        let certificatePEM: String
        let keyPEM: String

        static func load(certificatePath: String, keyPath: String) throws -> IssuingCA {
            let certificatePEM = try readText(certificatePath, role: "CA certificate")
            let keyPEM = try readText(keyPath, role: "CA private key")
            let certificate: Certificate
            do {
                certificate = try Certificate(pemEncoded: certificatePEM)
            } catch {
                throw TLSMaterialError.invalidPEM(path: certificatePath, expected: "certificate", reason: "\(error)")
            }
            let key: Certificate.PrivateKey
            do {
                key = try Certificate.PrivateKey(pemEncoded: keyPEM)
            } catch {
                throw TLSMaterialError.invalidPEM(path: keyPath, expected: "private key", reason: "\(error)")
            }
            guard key.publicKey == certificate.publicKey else {
                throw TLSMaterialError.keyDoesNotMatchCertificate(certificatePath: certificatePath, keyPath: keyPath)
            }
            return IssuingCA(certificate: certificate, key: key, certificatePEM: certificatePEM, keyPEM: keyPEM)
        }

        /// A leaf certificate signed by this CA and its new key, both as PEM.
        func issue(
            commonName: String, subjectAlternativeNames: [GeneralName], usages: [ExtendedKeyUsage.Usage],
            validityDays: Int, now: Date
        ) throws -> (certificate: String, key: String) {
            let leafKey = P256.Signing.PrivateKey()
            let publicKey = Certificate.PublicKey(leafKey.publicKey)
            do {
                let subject = try DistinguishedName {
                    OrganizationName("Skein")
                    CommonName(commonName)
                }
                let authorityKeyIdentifier = AuthorityKeyIdentifier(
                    keyIdentifier: SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier)
                let extensions = try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage(usages)
                    SubjectKeyIdentifier(hash: publicKey)
                    authorityKeyIdentifier
                    if !subjectAlternativeNames.isEmpty {
                        SubjectAlternativeNames(subjectAlternativeNames)
                    }
                }
                let leaf = try Certificate(
                    version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                    notValidBefore: ClusterCertificates.notBefore(now),
                    notValidAfter: now.addingTimeInterval(Double(validityDays) * 86_400),
                    issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                    extensions: extensions, issuerPrivateKey: key)
                return (try leaf.serializeAsPEM().pemString, leafKey.pemRepresentation)
            } catch let error as TLSMaterialError {
                throw error
            } catch {
                throw TLSMaterialError.certificateCreationFailed("\(commonName): \(error)")
            }
        }
    }

    static func makeCA(validityDays: Int, now: Date) throws -> IssuingCA {
        let caKey = P256.Signing.PrivateKey()
        let key = Certificate.PrivateKey(caKey)
        do {
            let name = try DistinguishedName {
                OrganizationName("Skein")
                CommonName("Skein cluster CA")
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
                notValidBefore: notBefore(now), notValidAfter: now.addingTimeInterval(Double(validityDays) * 86_400),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
                issuerPrivateKey: key)
            return IssuingCA(
                certificate: certificate, key: key, certificatePEM: try certificate.serializeAsPEM().pemString,
                keyPEM: caKey.pemRepresentation)
        } catch {
            throw TLSMaterialError.certificateCreationFailed("CA: \(error)")
        }
    }

    /// An hour back, so that a node whose clock is a little behind still accepts a new certificate.
    static func notBefore(_ now: Date) -> Date { now.addingTimeInterval(-3600) }

    /// `localhost` and 127.0.0.1, then each extra host as an IP SAN when it parses as an address, else as a DNS
    /// SAN.
    static func nodeSubjectAlternativeNames(hosts: [String]) throws -> [GeneralName] {
        var dnsNames = ["localhost"]
        var addresses: [[UInt8]] = [[127, 0, 0, 1]]
        for host in hosts {
            if let address = ipAddressBytes(host) {
                if !addresses.contains(address) { addresses.append(address) }
            } else {
                try validateHostName(host)
                if !dnsNames.contains(host.lowercased()) { dnsNames.append(host.lowercased()) }
            }
        }
        return dnsNames.map { GeneralName.dnsName($0) } + addresses.map { .ipAddress(.init(contentBytes: $0[...])) }
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 literal, nil when `host` is not one.
    static func ipAddressBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func validateHostName(_ host: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.*")
        guard !host.isEmpty, host.count <= 253, host.allSatisfy({ allowed.contains($0) }), !host.hasPrefix("."),
            !host.hasSuffix(".")
        else {
            throw TLSMaterialError.invalidArgument("'\(host)' is neither an IP address nor a DNS name")
        }
    }

    static func validateClientName(_ name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ allowed.contains($0) }) else {
            throw TLSMaterialError.invalidArgument(
                "client name '\(name)' must be 1 to 64 letters, digits, '-', '_' or '.'")
        }
        guard !name.hasPrefix(nodeCommonNamePrefix) else {
            throw TLSMaterialError.invalidArgument(
                "client name '\(name)' must not start with '\(nodeCommonNamePrefix)' (reserved for nodes)")
        }
    }

    // MARK: files

    static func join(_ directory: String, _ file: String) -> String {
        directory.hasSuffix("/") ? directory + file : directory + "/" + file
    }

    static func readText(_ path: String, role: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TLSMaterialError.fileMissing(path: path, role: role)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TLSMaterialError.unreadable(path: path, reason: "permission denied or not a regular file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TLSMaterialError.invalidPEM(path: path, expected: role, reason: "not UTF-8 text")
        }
        return text
    }

    /// Creates `path` with `mode` (never widened afterwards) and writes `text`. An existing file is an error
    /// unless `replace`, which unlinks it first so that the new file gets `mode` rather than the old one's.
    static func writeFile(_ text: String, to path: String, mode: mode_t, replace: Bool) throws {
        if replace && unlink(path) != 0 && errno != ENOENT {
            throw TLSMaterialError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            if errno == EEXIST { throw TLSMaterialError.alreadyExists(path: path) }
            throw TLSMaterialError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n > 0 {
                done += n
            } else if n == 0 || errno != EINTR {
                throw TLSMaterialError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
        }
        guard fsync(fd) == 0 else {
            throw TLSMaterialError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
