import ArgumentParser
import Foundation
import Logging
import SkeinNode

/// `skein node --config FILE.toml`: runs one node until SIGTERM or SIGINT.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "node", abstract: "Run a Skein node.")

    @Option(name: .shortAndLong, help: "The node's TOML config file.")
    var config: String

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        let nodeConfig: NodeConfig
        do {
            nodeConfig = try NodeConfig.load(path: config)
        } catch let error as NodeConfigError {
            throw ValidationError("\(config): \(error)")
        }
        var logger = Logger(label: "skein.node.\(nodeConfig.nodeId)")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let node = try await Node.start(config: nodeConfig, logger: logger)
        let addresses = node.listeners.compactMap { $0.localAddress.map { "\($0)" } }.joined(separator: ", ")
        print("skein node \(nodeConfig.nodeId) serving Kafka on \(addresses)")
        fflush(nil)  // flush every stream: scripts wait for this line
        await waitForTermination()
        await node.stop()
    }

    /// Waits for SIGTERM or SIGINT.
    private func waitForTermination() async {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let queue = DispatchQueue(label: "skein.signals")
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for sig in [SIGTERM, SIGINT] {
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler {
                    if once.set() { continuation.resume() }
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Keeps the signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) static var retained: [DispatchSourceSignal] = []
    static func keep(_ s: [DispatchSourceSignal]) { retained += s }
}

final class OnceFlag: @unchecked Sendable {
    private var done = false
    private let lock = NSLock()
    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        done = true
        return true
    }
}
