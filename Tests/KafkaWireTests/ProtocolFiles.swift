import Foundation
import KafkaWire
import KafkaWireGenerator

/// Kafka's message definitions, read at test time from `../shared/kafka-protocol` beside the checkout
/// (or `SKEIN_KAFKA_PROTOCOL_DIR`), so that the tests check the generated code against the JSON itself.
enum ProtocolFiles {
    static let directory: URL = {
        if let env = ProcessInfo.processInfo.environment["SKEIN_KAFKA_PROTOCOL_DIR"] {
            return URL(fileURLWithPath: env)
        }
        // Tests/KafkaWireTests/ProtocolFiles.swift -> checkout root -> ../shared/kafka-protocol
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared/kafka-protocol")
    }()

    static let specs: [MessageSpec] = {
        do {
            return try SchemaParser.loadDirectory(directory.appendingPathComponent("messages"))
        } catch {
            fatalError("cannot load Kafka's message definitions from \(directory.path): \(error)")
        }
    }()

    static let typesByName: [String: any KafkaMessage.Type] = {
        Dictionary(uniqueKeysWithValues: KafkaMessages.all.map { ($0.messageName, $0) })
    }()

    static func spec(named name: String) -> MessageSpec {
        specs.first { $0.name == name }!
    }
}
