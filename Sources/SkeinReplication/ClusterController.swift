import Foundation
import KafkaRecords
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SkeinModel
import SkeinRaft
import SkeinStorage

/// The cluster metadata as a replicated log: the `__cluster_metadata` Raft group on the controller voters (the
/// first three nodes by default). Voters apply the committed commands; other nodes poll a voter for the applied
/// state. Any node can submit a command: it goes to the controller leader (forwarded over RPC when that is
/// another node), is validated there, committed, and applied everywhere in log order.
public final class ClusterController: @unchecked Sendable {
    /// Request: a forwarded command. Response: Int16 error code (0 when applied), then the message.
    public static let submitKind: UInt16 = 3
    /// Request: the caller's applied offset (Int64). Response: the metadata as JSON when newer, else empty.
    public static let metadataKind: UInt16 = 4
    /// A submit reached a node that does not lead the controller group.
    static let notControllerCode: Int16 = -2

    public let nodeId: BrokerId
    public let voters: [BrokerId]
    private let engine: ReplicationEngine
    private let transport: any PeerTransport
    private let logger: Logger
    private let state = NIOLockedValueBox(ClusterMetadata())
    /// Apply results by controller log offset, for the proposers waiting on them (engine loop only): the refusal,
    /// or what the command produced (a producer id block's first id).
    private var results: [Int64: Result<String, MetadataError>] = [:]
    private var poller: RepeatedTask?
    private var pollTarget = 0
    /// Called on the engine's loop after the metadata changed (the node reconciles its replicas).
    public var onChange: (@Sendable (ClusterMetadata) -> Void)?

    public init(
        nodeId: BrokerId, voters: [BrokerId], engine: ReplicationEngine, transport: any PeerTransport, logger: Logger
    ) {
        self.nodeId = nodeId
        self.voters = voters.sorted()
        self.engine = engine
        self.transport = transport
        self.logger = logger
    }

    public var isVoter: Bool { voters.contains(nodeId) }

    private let registered = NIOLockedValueBox(false)
    /// Whether this node's metadata lists this node as a live broker (once true, it stays true: a node that was
    /// declared dead later still serves what it has).
    public var knowsItself: Bool {
        if registered.withLockedValue({ $0 }) { return true }
        let id = nodeId
        let known = metadata.liveNodes.contains { $0.id == id.rawValue }
        if known { registered.withLockedValue { $0 = true } }
        return known
    }
    public var metadata: ClusterMetadata { state.withLockedValue { $0 } }

    /// The controller leader as far as this node knows (nil while there is none): a voter's own replica says; a
    /// non-voter goes by the leader's announcements.
    public var leader: BrokerId? {
        if let s = engine.status(of: .controller) { return s.leader == .none ? nil : s.leader }
        return engine.leaderHint(.controller).map(\.leader)
    }

    /// The controller id Metadata and DescribeCluster give clients: the leader, else this node. Any node takes
    /// admin requests and forwards them to the leader (as KRaft brokers do), so a client never waits for one.
    public var controllerIdForClients: BrokerId { leader ?? nodeId }

    /// Voters: replays the committed commands from disk, then joins the controller group. Others: starts polling.
    public func start(log: PartitionLog?, pollInterval: TimeAmount = .milliseconds(200)) async throws {
        if isVoter {
            guard let log else { throw ReplicationError.storage("a controller voter needs the metadata log") }
            let store = try ReplicaStore(log: log)
            let persisted = try store.load()
            var replayed = ClusterMetadata()
            let first = store.raftIndex(ofKafka: log.logStartOffset)
            for e in try store.entries(from: first, through: persisted.logStart.index) {
                guard !ReplicaStore.isInternal(e), let view = try? RecordBatchView(bytes: ByteBuffer(bytes: e.payload))
                else { continue }
                Self.apply(view, at: e.lastIndex, to: &replayed)
            }
            state.withLockedValue { $0 = replayed }
            engine.addCommitHandler(for: .controller) { [weak self] entries in self?.committed(entries) }
            try await engine.addGroup(.controller, voters: voters, log: log).get()
            let loaded = replayed
            engine.loop.execute { self.onChange?(loaded) }
        } else {
            poller = engine.loop.scheduleRepeatedTask(initialDelay: .zero, delay: pollInterval) { [weak self] _ in
                self?.poll()
            }
        }
    }

    public func stop() {
        poller?.cancel()
        poller = nil
    }

    // MARK: - Applying

    /// One command per record batch: the value of its single record.
    static func batch(for command: MetadataCommand) -> ByteBuffer {
        // A one-record uncompressed batch cannot fail to build.
        try! RecordBatchBuilder.build(
            header: RecordBatchHeader(baseOffset: 0, baseTimestamp: Int64(Date().timeIntervalSince1970 * 1000)),
            records: [Record(offsetDelta: 0, timestampDelta: 0, key: nil, value: ByteBuffer(bytes: command.encoded()))])
    }

    @discardableResult
    /// Applies the command of `batch`, the entry ending at Raft index `index` of the metadata log.
    static func apply(_ batch: RecordBatchView, at index: Int64, to metadata: inout ClusterMetadata) -> MetadataError? {
        guard !batch.attributes.isControl,
            let value = try? batch.decodeRecords().first?.value,
            let command = try? MetadataCommand.decode(Array(value.readableBytesView))
        else {
            metadata.skip(to: index)
            return nil
        }
        return metadata.apply(command, at: index)
    }

    private func committed(_ entries: [LogEntry]) {
        var changed = false
        var current = metadata
        for e in entries {
            guard e.kind == .data, let view = try? RecordBatchView(bytes: ByteBuffer(bytes: e.payload)) else {
                current.skip(to: e.lastIndex)
                continue
            }
            let before = current.nextProducerId
            let result = Self.apply(view, at: e.lastIndex, to: &current)
            // Keyed by the batch's Kafka offset, which is what the submitter's append answered.
            results[view.lastOffset] = result.map { .failure($0) } ?? .success(
                current.nextProducerId != before ? String(before) : "")
            changed = changed || result == nil
        }
        if results.count > 4096 {
            for k in results.keys.sorted().prefix(results.count - 1024) { results[k] = nil }
        }
        state.withLockedValue { $0 = current }
        if changed { onChange?(current) }
    }

    // MARK: - Submitting

    /// Commits `command` through the controller leader and returns once the leader's metadata applied it, with
    /// what it produced (for `allocateProducerIds`, the block's first id; else empty); throws the refusal (Kafka's
    /// error code and message), or NOT_CONTROLLER when no leader answered within `timeout`.
    @discardableResult
    public func submit(_ command: MetadataCommand, timeout: Duration = .seconds(10)) async throws(MetadataError)
        -> String
    {
        let deadline = ContinuousClock.now + timeout
        var candidates: [BrokerId] = []
        while ContinuousClock.now < deadline {
            if candidates.isEmpty { candidates = [leader].compactMap { $0 } + voters }
            let target = candidates.removeFirst()
            do {
                let code: Int16
                let message: String
                if target == nodeId {
                    (code, message) = await submitHere(command)
                } else {
                    var response = try await transport.request(
                        to: target, kind: Self.submitKind, payload: ByteBuffer(bytes: command.encoded()),
                        timeout: .seconds(5))
                    guard let c = response.readInteger(as: Int16.self) else {
                        throw ReplicationError.storage("bad reply")
                    }
                    code = c
                    message = response.readString(length: response.readableBytes) ?? ""
                }
                if code == 0 { return message }
                if code != Self.notControllerCode {
                    throw MetadataError(KafkaErrorCode(rawValue: code) ?? .unknownServerError, message)
                }
            } catch let e as MetadataError {
                throw e
            } catch {
                logger.debug("controller submit to \(target) failed: \(error)")
            }
            if candidates.isEmpty { try? await Task.sleep(for: .milliseconds(50)) }
        }
        throw MetadataError(.notController, "No controller leader answered in time.")
    }

    /// Carries out a submit on this node if it leads the controller group.
    private func submitHere(_ command: MetadataCommand) async -> (Int16, String) {
        var command = command
        var placed: String?
        if command.isPlacement {
            // Placed with this leader's view, which has every committed registration and liveness verdict.
            switch metadata.resolve(command) {
            case .failure(let error):
                return (error.code.rawValue, error.message)
            case .success(let (resolved, partitions, rf)):
                placed = "\(partitions),\(rf)"
                guard let resolved else { return (0, placed!) }
                command = resolved
            }
        }
        if let error = metadata.check(command) { return (error.code.rawValue, error.message) }
        if let placed {
            let (code, message) = await append(command)
            return (code, code == 0 ? placed : message)
        }
        return await append(command)
    }

    private func append(_ command: MetadataCommand) async -> (Int16, String) {
        do {
            let position = try await engine.append(
                .controller, batches: [Self.batch(for: command)], waitForCommit: true
            ).get()
            let result = try await engine.loop.submit { self.results.removeValue(forKey: position.lastOffset) }.get()
            switch result {
            case .failure(let error)?: return (error.code.rawValue, error.message)
            case .success(let produced)?: return (0, produced)
            case nil: return (0, "")
            }
        } catch ReplicationError.notLeader {
            return (Self.notControllerCode, "not the controller")
        } catch {
            return (KafkaErrorCode.notController.rawValue, "the controller lost its leadership: \(error)")
        }
    }

    /// The RPC side of a forwarded submit.
    public func handleSubmit(_ payload: ByteBuffer) async -> ByteBuffer {
        var out = ByteBuffer()
        guard let command = try? MetadataCommand.decode(Array(payload.readableBytesView)) else {
            out.writeInteger(KafkaErrorCode.invalidRequest.rawValue)
            out.writeString("unreadable metadata command")
            return out
        }
        let (code, message) = await submitHere(command)
        out.writeInteger(code)
        out.writeString(message)
        return out
    }

    // MARK: - Metadata for non-voters

    /// The RPC side of a metadata poll: the applied state if newer than the caller's.
    public func handleMetadataFetch(_ payload: ByteBuffer) -> ByteBuffer {
        let since = payload.getInteger(at: payload.readerIndex, as: Int64.self) ?? -1
        let current = metadata
        guard current.appliedOffset > since, let json = try? JSONEncoder().encode(current) else { return ByteBuffer() }
        return ByteBuffer(bytes: json)
    }

    private func poll() {
        guard !voters.isEmpty else { return }
        let target = voters[pollTarget % voters.count]
        let since = metadata.appliedOffset
        var request = ByteBuffer()
        request.writeInteger(since)
        let transport = self.transport
        Task {
            do {
                let response = try await transport.request(
                    to: target, kind: Self.metadataKind, payload: request, timeout: .seconds(2))
                guard response.readableBytes > 0 else { return }
                let fetched = try JSONDecoder().decode(ClusterMetadata.self, from: Data(response.readableBytesView))
                let newer = self.state.withLockedValue { s in
                    guard fetched.appliedOffset > s.appliedOffset else { return false }
                    s = fetched
                    return true
                }
                if newer { self.engine.loop.execute { self.onChange?(fetched) } }
            } catch {
                self.engine.loop.execute { self.pollTarget += 1 }
            }
        }
    }
}
