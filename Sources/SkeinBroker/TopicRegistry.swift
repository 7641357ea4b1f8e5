import Foundation
import KafkaWire
import Logging
import NIOConcurrencyHelpers
import SkeinModel
import SkeinStorage

/// A topic on this node: its id, configs and the log of each partition.
final class Topic: Sendable {
    let name: String
    let id: KafkaUUID
    let configs: [String: String]
    let partitions: [PartitionLog]

    /// The log of a partition, or nil when the index is out of range.
    func partition(_ index: Int32) -> PartitionLog? {
        index >= 0 && Int(index) < partitions.count ? partitions[Int(index)] : nil
    }

    init(name: String, id: KafkaUUID, configs: [String: String], partitions: [PartitionLog]) {
        self.name = name
        self.id = id
        self.configs = configs
        self.partitions = partitions
    }
}

/// Why a topic operation was refused, with Kafka's error code and message.
struct TopicError: Error {
    let code: KafkaErrorCode
    let message: String
}

/// The topics of a single node, persisted as `topics.json` in the data directory (written atomically).
/// The controller of the replication issue replaces this with replicated metadata.
final class TopicRegistry: Sendable {
    private struct Stored: Codable {
        var name: String
        var id: String
        var partitions: Int32
        var configs: [String: String]
    }

    private let directory: URL
    private let clock: any SkeinModel.Clock
    private let logger: Logger
    private let state = NIOLockedValueBox([String: Topic]())

    init(dataDirectory: String, clock: any SkeinModel.Clock, logger: Logger) throws {
        self.directory = URL(fileURLWithPath: dataDirectory)
        self.clock = clock
        self.logger = logger
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for leftover in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        where leftover.hasSuffix("-delete") {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(leftover))
        }
        let file = directory.appendingPathComponent("topics.json")
        guard FileManager.default.fileExists(atPath: file.path) else { return }
        let stored = try JSONDecoder().decode([Stored].self, from: Data(contentsOf: file))
        var loaded: [String: Topic] = [:]
        for s in stored {
            let logs = try (0..<s.partitions).map { p in
                try PartitionLog(
                    directory: partitionDirectory(s.name, p).path, config: TopicConfigs.logConfig(s.configs),
                    clock: clock)
            }
            loaded[s.name] = Topic(
                name: s.name, id: KafkaUUID(parsing: s.id) ?? .zero, configs: s.configs, partitions: logs)
        }
        state.withLockedValue { $0 = loaded }
        logger.info("loaded topics", metadata: ["count": "\(loaded.count)"])
    }

    func partitionDirectory(_ topic: String, _ partition: Int32) -> URL {
        directory.appendingPathComponent("\(topic)-\(partition)")
    }

    var all: [Topic] { state.withLockedValue { Array($0.values) }.sorted { $0.name < $1.name } }

    func topic(named name: String) -> Topic? { state.withLockedValue { $0[name] } }

    func topic(id: KafkaUUID) -> Topic? { state.withLockedValue { $0.values.first { $0.id == id } } }

    /// Kafka's rules for topic names (`Topic.validate`), plus the collision of '.' and '_'.
    func validateName(_ name: String) throws {
        guard !name.isEmpty else {
            throw TopicError(code: .invalidTopicException, message: "Topic name is illegal, it can't be empty")
        }
        guard name != "." && name != ".." else {
            throw TopicError(code: .invalidTopicException, message: "Topic name cannot be \".\" or \"..\"")
        }
        guard name.utf8.count <= 249 else {
            throw TopicError(
                code: .invalidTopicException,
                message: "Topic name is illegal, it can't be longer than 249 characters, topic name: \(name)")
        }
        let legal = name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x5F
                || c == 0x2D
        }
        guard legal else {
            throw TopicError(
                code: .invalidTopicException,
                message:
                    "Topic name \"\(name)\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
            )
        }
    }

    /// Creates a topic (or, with `validateOnly`, checks that it could be created).
    @discardableResult
    func create(name: String, partitions: Int32, configs: [String: String], validateOnly: Bool) throws -> Topic? {
        try validateName(name)
        guard partitions > 0 else {
            throw TopicError(code: .invalidPartitions, message: "Number of partitions must be larger than 0.")
        }
        guard partitions <= 100_000 else {
            throw TopicError(code: .invalidPartitions, message: "Number of partitions \(partitions) is too large.")
        }
        let logConfig = try TopicConfigs.validate(configs)
        return try state.withLockedValue { topics -> Topic? in
            if topics[name] != nil {
                throw TopicError(code: .topicAlreadyExists, message: "Topic '\(name)' already exists.")
            }
            let collapsed = name.replacingOccurrences(of: ".", with: "_")
            if let other = topics.keys.first(where: { $0.replacingOccurrences(of: ".", with: "_") == collapsed }) {
                throw TopicError(
                    code: .invalidTopicException, message: "Topic '\(name)' collides with existing topic: \(other)")
            }
            if validateOnly { return nil }
            var rng = SystemRandomNumberGenerator()
            let logs = try (0..<partitions).map { p in
                try PartitionLog(directory: partitionDirectory(name, p).path, config: logConfig, clock: clock)
            }
            let topic = Topic(name: name, id: KafkaUUID.random(using: &rng), configs: configs, partitions: logs)
            topics[name] = topic
            try persist(topics)
            return topic
        }
    }

    func delete(name: String) throws -> Topic {
        let topic = try state.withLockedValue { topics -> Topic in
            guard let topic = topics.removeValue(forKey: name) else {
                throw TopicError(
                    code: .unknownTopicOrPartition, message: "This server does not host this topic-partition.")
            }
            try persist(topics)
            return topic
        }
        for (p, log) in topic.partitions.enumerated() {
            do {
                try log.close()
            } catch {
                logger.error(
                    "closing a deleted partition failed",
                    metadata: ["topic": "\(name)", "partition": "\(p)", "error": "\(error)"])
            }
            // Renamed first (atomically), as Kafka does: even if the removal fails, a new topic of the same name
            // can never reopen the old data. Leftovers are removed at the next start.
            let dir = partitionDirectory(name, Int32(p))
            let doomed = directory.appendingPathComponent("\(name)-\(p).\(UUID().uuidString)-delete")
            do {
                try FileManager.default.moveItem(at: dir, to: doomed)
                try FileManager.default.removeItem(at: doomed)
            } catch {
                logger.error(
                    "removing a deleted partition failed", metadata: ["directory": "\(dir.path)", "error": "\(error)"])
            }
        }
        return topic
    }

    /// Replaces a topic's configs (AlterConfigs, IncrementalAlterConfigs): validated, persisted, and applied
    /// to the partitions' logs.
    func updateConfigs(name: String, validateOnly: Bool, _ change: ([String: String]) throws -> [String: String]) throws
    {
        try state.withLockedValue { topics in
            guard let topic = topics[name] else {
                throw TopicError(code: .unknownTopicOrPartition, message: "The topic '\(name)' does not exist.")
            }
            let configs = try change(topic.configs)
            let logConfig = try TopicConfigs.validate(configs)
            if validateOnly { return }
            topics[name] = Topic(name: name, id: topic.id, configs: configs, partitions: topic.partitions)
            try persist(topics)
            for log in topic.partitions { log.config = logConfig }
        }
    }

    /// Raises a topic's partition count (CreatePartitions); existing partitions keep their data.
    func addPartitions(name: String, count: Int32, validateOnly: Bool) throws {
        try state.withLockedValue { topics in
            guard let topic = topics[name] else {
                throw TopicError(code: .unknownTopicOrPartition, message: "The topic '\(name)' does not exist.")
            }
            let current = Int32(topic.partitions.count)
            guard count > current else {
                throw TopicError(
                    code: .invalidPartitions,
                    message: count == current
                        ? "Topic already has \(current) partitions."
                        : "Topic currently has \(current) partitions, which is higher than the requested \(count).")
            }
            guard count <= 100_000 else {
                throw TopicError(code: .invalidPartitions, message: "Number of partitions \(count) is too large.")
            }
            if validateOnly { return }
            let logConfig = TopicConfigs.logConfig(topic.configs)
            let added = try (current..<count).map { p in
                try PartitionLog(directory: partitionDirectory(name, p).path, config: logConfig, clock: clock)
            }
            topics[name] = Topic(name: name, id: topic.id, configs: topic.configs, partitions: topic.partitions + added)
            try persist(topics)
        }
    }

    private func persist(_ topics: [String: Topic]) throws {
        let stored = topics.values.sorted { $0.name < $1.name }.map {
            Stored(name: $0.name, id: $0.id.hexString, partitions: Int32($0.partitions.count), configs: $0.configs)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(stored)
        let file = directory.appendingPathComponent("topics.json")
        let temp = directory.appendingPathComponent("topics.json.tmp")
        try data.write(to: temp)
        let fd = open(temp.path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        _ = rename(temp.path, file.path)
    }

    func closeAll() {
        for topic in all {
            for (p, log) in topic.partitions.enumerated() {
                do {
                    try log.close()
                } catch {
                    logger.error(
                        "closing a partition failed",
                        metadata: ["topic": "\(topic.name)", "partition": "\(p)", "error": "\(error)"])
                }
            }
        }
    }
}

extension KafkaUUID {
    var hexString: String { String(format: "%016llx%016llx", mostSignificantBits, leastSignificantBits) }

    init?(parsing hex: String) {
        guard hex.count == 32, let hi = UInt64(hex.prefix(16), radix: 16), let lo = UInt64(hex.suffix(16), radix: 16)
        else {
            return nil
        }
        self.init(mostSignificantBits: hi, leastSignificantBits: lo)
    }
}
