import Foundation
import NIOSSL
import SkeinModel
import SkeinTLS
import Testing
import X509

@Suite struct ClusterCertificatesTests {
    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as! NSNumber).intValue
    }

    @Test func writesTheCAAndNodeFilesWithPrivateKeysOwnerOnly() throws {
        let directory = makeTemporaryDirectory("certs")
        defer { removeDirectory(directory) }
        let created = try ClusterCertificates.create(directory: directory + "/tls", nodeIds: [1, 2, 3])
        #expect(created.createdCA)
        let names = created.written.map { ($0 as NSString).lastPathComponent }
        #expect(
            names == [
                "ca.pem", "ca.key", "node-1.pem", "node-1.key", "node-2.pem", "node-2.key", "node-3.pem", "node-3.key",
            ])
        for path in created.written where path.hasSuffix(".key") {
            #expect(try Self.mode(path) == 0o600, "\(path)")
        }
        for path in created.written where path.hasSuffix(".pem") {
            #expect(try Self.mode(path) & 0o077 != 0o077, "\(path)")  // readable certificates, whatever the umask
            #expect(try Self.mode(path) & 0o600 == 0o600)
        }
    }

    @Test func nodeCertificatesCarryTheIdentityNamesAndUsages() throws {
        let directory = makeTemporaryDirectory("certs")
        defer { removeDirectory(directory) }
        _ = try ClusterCertificates.create(
            directory: directory, nodeIds: [7], hosts: ["skein-7.example", "10.1.2.3", "::1"])
        let pem = try String(contentsOfFile: ClusterCertificates.nodeCertificatePath(7, in: directory), encoding: .utf8)
        let certificate = try Certificate(pemEncoded: pem)
        #expect(try NodeIdentity.nodeId(of: certificate) == 7)
        #expect(certificate.subject.description.contains("CN=skein-node-7"))
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        let rendered = names.map { "\($0)" }
        #expect(Array(names).contains(.uniformResourceIdentifier("skein://node/7")))
        #expect(Array(names).contains(.dnsName("localhost")))
        #expect(Array(names).contains(.dnsName("skein-7.example")))
        #expect(Array(names).filter { if case .ipAddress = $0 { true } else { false } }.count == 3, "\(rendered)")
        let usages = try #require(try certificate.extensions.extendedKeyUsage)
        #expect(usages.contains(.serverAuth) && usages.contains(.clientAuth))
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(certificate.signatureAlgorithm == .ecdsaWithSHA256)

        let ca = try Certificate(
            pemEncoded: try String(
                contentsOfFile: ClusterCertificates.caCertificatePath(in: directory), encoding: .utf8))
        #expect(try ca.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(try ca.extensions.keyUsage?.keyCertSign == true)
        #expect(ca.publicKey.isValidSignature(certificate.signature, for: certificate))
        // 825 days for nodes, 10 years for the CA (each starts an hour back for clock skew).
        let nodeDays = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore) / 86_400
        let caDays = ca.notValidAfter.timeIntervalSince(ca.notValidBefore) / 86_400
        #expect(abs(nodeDays - 825) < 0.1)
        #expect(abs(caDays - 3650) < 0.1)
    }

    @Test func anExistingCAIsKeptAndIssuesNodesAddedLater() throws {
        let directory = makeTemporaryDirectory("certs")
        defer { removeDirectory(directory) }
        _ = try ClusterCertificates.create(directory: directory, nodeIds: [1, 2])
        let caBefore = try String(contentsOfFile: ClusterCertificates.caCertificatePath(in: directory), encoding: .utf8)

        let later = try ClusterCertificates.create(directory: directory, nodeIds: [3])
        #expect(!later.createdCA)
        #expect(later.written.map { ($0 as NSString).lastPathComponent } == ["node-3.pem", "node-3.key"])
        #expect(
            try String(contentsOfFile: ClusterCertificates.caCertificatePath(in: directory), encoding: .utf8)
                == caBefore)
        #expect(try TLSMaterial.node(3, directory: directory).load().nodeId == 3)

        // Existing node files are never silently replaced, and a refusal writes nothing.
        #expect(throws: TLSMaterialError.alreadyExists(path: ClusterCertificates.nodeCertificatePath(2, in: directory)))
        {
            try ClusterCertificates.create(directory: directory, nodeIds: [4, 2])
        }
        #expect(!FileManager.default.fileExists(atPath: ClusterCertificates.nodeCertificatePath(4, in: directory)))

        // force: a new CA, which the old node certificates no longer chain to.
        let replaced = try ClusterCertificates.create(directory: directory, nodeIds: [1], force: true)
        #expect(replaced.createdCA)
        #expect(try Self.mode(ClusterCertificates.caKeyPath(in: directory)) == 0o600)
        #expect(try TLSMaterial.node(1, directory: directory).load().nodeId == 1)
        #expect(
            throws: TLSMaterialError.notIssuedByCA(
                certificatePath: ClusterCertificates.nodeCertificatePath(2, in: directory),
                caPath: ClusterCertificates.caCertificatePath(in: directory))
        ) {
            try TLSMaterial.node(2, directory: directory).load()
        }
    }

    @Test func badArgumentsAreRefused() throws {
        let directory = makeTemporaryDirectory("certs")
        defer { removeDirectory(directory) }
        #expect(throws: TLSMaterialError.self) {
            try ClusterCertificates.create(directory: directory, nodeIds: [1, 1])
        }
        #expect(throws: TLSMaterialError.self) {
            try ClusterCertificates.create(directory: directory, nodeIds: [1], hosts: ["not a host"])
        }
        #expect(throws: TLSMaterialError.self) {
            try ClusterCertificates.create(directory: directory, nodeIds: [], clientNames: ["skein-node-1"])
        }
        #expect(!FileManager.default.fileExists(atPath: ClusterCertificates.caCertificatePath(in: directory)))
    }

    @Test func loadingReportsMissingUnreadableAndMismatchedFiles() throws {
        let directory = makeTemporaryDirectory("certs")
        defer { removeDirectory(directory) }
        _ = try ClusterCertificates.create(directory: directory, nodeIds: [1, 2])
        let node1 = TLSMaterial.node(1, directory: directory)

        var missing = node1
        missing.keyPath = directory + "/nope.key"
        #expect(throws: TLSMaterialError.fileMissing(path: missing.keyPath, role: "private key")) {
            try missing.load()
        }

        let garbage = directory + "/garbage.pem"
        try "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".write(
            toFile: garbage, atomically: true, encoding: .utf8)
        var badCertificate = node1
        badCertificate.certificatePath = garbage
        do {
            _ = try badCertificate.load()
            Issue.record("garbage loaded")
        } catch let error as TLSMaterialError {
            guard case .invalidPEM(let path, "certificate", _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(path == garbage)
            #expect(error.description.contains(garbage))
        }

        var otherKey = node1
        otherKey.keyPath = ClusterCertificates.nodeKeyPath(2, in: directory)
        #expect(
            throws: TLSMaterialError.keyDoesNotMatchCertificate(
                certificatePath: node1.certificatePath, keyPath: otherKey.keyPath)
        ) {
            try otherKey.load()
        }

        var keyAsCertificate = node1
        keyAsCertificate.certificatePath = node1.keyPath
        #expect(throws: TLSMaterialError.self) { try keyAsCertificate.load() }
    }

    @Test func clientCertificatesHaveNoNodeIdentity() throws {
        let directory = makeTemporaryDirectory("certs")
        defer { removeDirectory(directory) }
        _ = try ClusterCertificates.create(directory: directory, nodeIds: [], clientNames: ["orders-app"])
        let path = ClusterCertificates.clientCertificatePath("orders-app", in: directory)
        let certificate = try #require(try NIOSSLCertificate.fromPEMFile(path).first)
        #expect(throws: TLSMaterialError.self) { try NodeIdentity.nodeId(of: certificate) }
        #expect(try Self.mode(ClusterCertificates.clientKeyPath("orders-app", in: directory)) == 0o600)
    }
}
