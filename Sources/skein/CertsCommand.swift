import ArgumentParser
import Foundation
import SkeinModel
import SkeinTLS

/// `skein certs create`: the cluster CA and node certificates for TLS listeners and the internal RPC.
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Create the cluster's TLS certificates.",
        subcommands: [Create.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the cluster CA (unless DIR has one) and a certificate and key per node.",
            discussion: """
                Writes ca.pem and ca.key (once; an existing CA issues the new certificates, so a node can be \
                added later), node-N.pem and node-N.key per node, and client-NAME.pem and client-NAME.key per \
                --client. Private keys are created with mode 0600. Existing files are never replaced without \
                --force; with --force a new CA replaces the old one, and certificates it did not issue stop \
                being trusted.
                """)

        @Option(help: "The directory to write into (created if missing).") var dir: String
        @Option(help: "Node ids, comma-separated: 1,2,3.") var nodes: String = ""
        @Option(
            name: .customLong("host"),
            help: "An extra DNS name or IP address for the node certificates (besides localhost); repeatable.")
        var hosts: [String] = []
        @Option(
            name: .customLong("client"),
            help: "Also issue a Kafka client certificate with this common name (for ssl_client_auth); repeatable.")
        var clients: [String] = []
        @Option(help: "Days node and client certificates stay valid.")
        var days: Int = ClusterCertificates.defaultNodeValidityDays
        @Flag(help: "Replace an existing CA and existing node or client files.") var force = false

        func run() throws {
            var ids: [BrokerId] = []
            for item in nodes.split(separator: ",", omittingEmptySubsequences: false) {
                let text = item.trimmingCharacters(in: .whitespaces)
                guard let id = Int32(text), id >= 0 else {
                    throw ValidationError("--nodes expects node ids like 1,2,3, got '\(item)'")
                }
                ids.append(BrokerId(id))
            }
            if nodes.isEmpty { ids = [] }
            guard !ids.isEmpty || !clients.isEmpty else {
                throw ValidationError("nothing to issue: give --nodes and/or --client")
            }
            let created: ClusterCertificates.CreatedFiles
            do {
                created = try ClusterCertificates.create(
                    directory: dir, nodeIds: ids, hosts: hosts, clientNames: clients, force: force,
                    nodeValidityDays: days)
            } catch let error as TLSMaterialError {
                fail("\(error)")
            }
            if !created.createdCA {
                print("using the existing CA in \(dir)")
            }
            for path in created.written {
                print("wrote \(path)")
            }
        }
    }
}
