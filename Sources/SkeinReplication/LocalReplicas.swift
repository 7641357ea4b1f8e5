import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SkeinModel
import SkeinStorage

/// The partition replicas this node hosts, kept in line with the cluster metadata: a replica is opened (and its
/// Raft group started) when an assignment names this node, and stopped and deleted when its topic goes. Each
/// partition directory holds a `topic-id` file, so a topic deleted and created again under the same name never
/// inherits the old data.
public final class LocalReplicas: @unchecked Sendable {
    public let nodeId: BrokerId
    public let dataDirectory: String
    private let engine: ReplicationEngine
    private let clock: any SkeinModel.Clock
    private let logConfig: @Sendable ([String: String]) -> LogConfig
    private let logger: Logger
    private let logs = NIOLockedValueBox([GroupId: (log: PartitionLog, topicId: KafkaUUID)]())

    public init(
        nodeId: BrokerId, dataDirectory: String, engine: ReplicationEngine, clock: any SkeinModel.Clock,
        logConfig: @escaping @Sendable ([String: String]) -> LogConfig, logger: Logger
    ) {
        self.nodeId = nodeId
        self.dataDirectory = dataDirectory
        self.engine = engine
        self.clock = clock
        self.logConfig = logConfig
        self.logger = logger
    }

    /// The local log of a partition replica, if this node hosts one.
    public func log(for group: GroupId) -> PartitionLog? { logs.withLockedValue { $0[group]?.log } }
    public var hosted: [GroupId] { logs.withLockedValue { Array($0.keys) } }

    private func directory(_ group: GroupId) -> String { "\(dataDirectory)/\(group.topic)-\(group.partition)" }

    /// Opens what the metadata assigns here and is not open yet; stops and deletes what it no longer assigns.
    /// Runs on the engine's loop (it is the controller's `onChange`).
    public func reconcile(_ metadata: ClusterMetadata) {
        var desired: [GroupId: (voters: [BrokerId], topic: TopicMetadata)] = [:]
        for topic in metadata.topics.values {
            for (p, replicas) in topic.replicas.enumerated() where replicas.contains(nodeId.rawValue) {
                desired[GroupId(topic: topic.name, partition: Int32(p))] = (replicas.map { BrokerId($0) }, topic)
            }
        }
        let current = logs.withLockedValue { $0 }
        for (group, open) in current {
            if let want = desired[group], want.topic.id == open.topicId {
                let config = logConfig(want.topic.configs)
                if open.log.config != config { open.log.config = config }
                // A reassigned partition: its leader changes the Raft voters to the new replica set.
                if let status = engine.status(of: group), Set(status.voters) != Set(want.voters) {
                    engine.setTargetVoters(group, want.voters)
                }
                continue
            }
            remove(group, log: open.log)
        }
        // Includes a topic deleted and created again under its name: the old replica is out of the way already.
        for (group, want) in desired where current[group]?.topicId != want.topic.id {
            open(group, voters: want.voters, topic: want.topic)
        }
    }

    /// A topic's incarnation on the replication wire: from its id, never 0 (the controller's).
    static func incarnation(_ id: KafkaUUID) -> UInt64 {
        let v = id.mostSignificantBits ^ id.leastSignificantBits
        return v == 0 ? 1 : v
    }

    private func open(_ group: GroupId, voters: [BrokerId], topic: TopicMetadata) {
        let dir = directory(group)
        let idFile = dir + "/topic-id"
        do {
            if let stored = try? String(contentsOfFile: idFile, encoding: .utf8), stored != topic.id.description {
                // Left from a deleted topic of the same name.
                try FileManager.default.removeItem(atPath: dir)
            }
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: idFile) {
                try topic.id.description.write(toFile: idFile, atomically: true, encoding: .utf8)
            }
            let log = try PartitionLog(directory: dir, config: logConfig(topic.configs), clock: clock)
            logs.withLockedValue { $0[group] = (log, topic.id) }
            engine.addGroup(
                group, voters: voters, log: log, preferredLeader: voters.first, incarnation: Self.incarnation(topic.id)
            ).whenFailure { error in
                self.logger.error("cannot start replica", metadata: ["group": "\(group)", "error": "\(error)"])
            }
        } catch {
            logger.error("cannot open replica", metadata: ["group": "\(group)", "error": "\(error)"])
        }
    }

    /// Runs on the engine's loop, so the replica writes nothing more before `removeGroup` (queued behind this
    /// task) stops it. The directory is renamed at once, which frees the name for a topic created again under it
    /// and means a crash midway never leaves a half-deleted directory under the live name.
    private func remove(_ group: GroupId, log: PartitionLog) {
        logs.withLockedValue { _ = $0.removeValue(forKey: group) }
        let doomed = directory(group) + "-\(UInt64.random(in: 0...UInt64.max))-delete"
        do {
            try FileManager.default.moveItem(atPath: directory(group), toPath: doomed)
        } catch {
            logger.error("cannot delete replica", metadata: ["group": "\(group)", "error": "\(error)"])
        }
        engine.removeGroup(group).whenComplete { _ in
            try? log.close()
            do {
                try FileManager.default.removeItem(atPath: doomed)
            } catch {
                self.logger.error("cannot delete replica", metadata: ["group": "\(group)", "error": "\(error)"])
            }
        }
    }

    public func closeAll() {
        for (_, open) in logs.withLockedValue({ $0 }) { try? open.log.close() }
    }
}

/// Routes what peers send to the replication engine and the controller: the body of a node's RPC handler.
public struct PeerDispatcher: Sendable {
    public let engine: ReplicationEngine
    public let controller: ClusterController
    public init(engine: ReplicationEngine, controller: ClusterController) {
        self.engine = engine
        self.controller = controller
    }

    public func oneWay(from: BrokerId, kind: UInt16, payload: ByteBuffer) {
        switch kind {
        case ReplicationEngine.raftKind: engine.receive(from: from, payload: payload)
        case ReplicationEngine.leadershipKind: engine.receiveAnnouncement(from: from, payload: payload)
        default: break
        }
    }

    public func request(from: BrokerId, kind: UInt16, payload: ByteBuffer) async throws -> ByteBuffer {
        switch kind {
        case ReplicationEngine.catchUpKind: return try await engine.serveCatchUp(payload).get()
        case ClusterController.submitKind: return await controller.handleSubmit(payload)
        case ClusterController.metadataKind: return controller.handleMetadataFetch(payload)
        default: throw ReplicationError.storage("unknown request kind \(kind)")
        }
    }
}
