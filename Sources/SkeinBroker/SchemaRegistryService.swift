import Foundation
import KafkaRecords
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SkeinModel
import SkeinRegistry
import SkeinReplication
import SkeinStorage

/// The topic holding every Schema Registry write (Confluent's `_schemas`): one partition, compacted.
public let schemasTopic = "_schemas"

/// The Schema Registry of this node: `SkeinRegistry`'s state machine fed with the committed records of the
/// `_schemas` partition (this node's replica, leader or follower), and its REST API.
///
/// Reads are answered from this node's state after it applied everything its replica has committed. Writes are
/// linearized through the partition's leader: there, one at a time, the state catches up to the end of the log,
/// the API turns the request into records, the records are appended (acks=all) and, once committed and applied,
/// the response goes out, so ids and versions are computed from every earlier write and never reused. A node that
/// does not lead forwards writes to the leader over the cluster's mutual-TLS RPC.
public final class SchemaRegistryService: @unchecked Sendable {
    /// The RPC kind of a forwarded registry request.
    public static let forwardKind: UInt16 = 20

    let loop: any EventLoop
    private let backend: any CoordinatorLogBackend
    private let logger: Logger
    /// Sends a forwarded request to the leader; nil on a single node.
    private let forward: (@Sendable (BrokerId, ByteBuffer) async throws -> ByteBuffer)?
    private let leaderOf: @Sendable () -> BrokerId?
    private let createTopic: @Sendable () async -> Void
    private var state = SchemaRegistryState()
    /// The next offset of `_schemas` to apply; -1 when the state must be rebuilt.
    private var nextOffset: Int64 = 0
    /// The leader's writes, one after another.
    private var lastWrite: EventLoopFuture<Void>
    /// Live schema ids per subject as of the last catch-up, for produce validation on any thread.
    private let registeredIds = NIOLockedValueBox<[String: Set<Int>]>([:])

    init(
        backend: any CoordinatorLogBackend, logger: Logger, leaderOf: @escaping @Sendable () -> BrokerId?,
        createTopic: @escaping @Sendable () async -> Void,
        forward: (@Sendable (BrokerId, ByteBuffer) async throws -> ByteBuffer)?,
        loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    ) {
        self.backend = backend
        self.logger = logger
        self.leaderOf = leaderOf
        self.createTopic = createTopic
        self.forward = forward
        self.loop = loop
        lastWrite = loop.makeSucceededVoidFuture()
    }

    /// Answers one REST request.
    public func handle(_ request: RegistryRequest) -> EventLoopFuture<RegistryResponse> {
        loop.flatSubmit {
            if self.backend.partitionCount == nil {
                // No `_schemas` yet: reads see an empty registry; a write creates the topic first.
                let outcome = SchemaRegistryAPI.handle(request, state: SchemaRegistryState())
                guard case .write = outcome else { return self.loop.makeSucceededFuture(Self.response(outcome)) }
                return self.loop.makeFutureWithTask {
                    await self.createTopic()
                    for _ in 0..<100 {
                        if self.backend.partitionCount != nil, self.leaderOf() != nil { break }
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                }.flatMap { self.handle(request) }
            }
            // Reads are answered from this node's state, leader or not; writes go to the leader, one at a time.
            self.catchUp()
            let outcome = SchemaRegistryAPI.handle(request, state: self.state)
            guard case .write = outcome else { return self.loop.makeSucceededFuture(Self.response(outcome)) }
            if self.backend.leadership(0) != nil { return self.leaderHandle(request) }
            return self.forwardToLeader(request)
        }
    }

    /// A request forwarded by another node (which found it is a write and that this node leads).
    public func handleForwarded(_ payload: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        guard let request = Self.decodeRequest(payload) else {
            return loop.makeSucceededFuture(Self.encode(Self.error(50001, "Malformed forwarded request", status: 500)))
        }
        return loop.flatSubmit {
            guard self.backend.leadership(0) != nil else {
                return self.loop.makeSucceededFuture(
                    Self.encode(Self.error(50004, "This node no longer leads _schemas; retry", status: 500)))
            }
            return self.leaderHandle(request).map { response in
                // The follower waits until its own replica has applied this far before it answers, so that a
                // client reads its own write from the node it wrote through.
                var encoded = Self.encode(response)
                encoded.writeInteger(self.nextOffset)
                return encoded
            }
        }
    }

    // MARK: leader

    private func leaderHandle(_ request: RegistryRequest) -> EventLoopFuture<RegistryResponse> {
        let promise = loop.makePromise(of: RegistryResponse.self)
        let previous = lastWrite
        lastWrite = promise.futureResult.map { _ in }.recover { _ in }
        previous.whenComplete { _ in
            self.leaderStep(request).cascade(to: promise)
        }
        return promise.futureResult
    }

    private func leaderStep(_ request: RegistryRequest) -> EventLoopFuture<RegistryResponse> {
        guard let leadership = backend.leadership(0) else {
            return loop.makeSucceededFuture(Self.error(50004, "Leadership of _schemas moved; retry", status: 500))
        }
        // Every record an earlier leader acknowledged is committed once the log is committed to its end; this
        // leader's own writes are applied as they commit, so the state then covers the whole log.
        catchUp()
        guard nextOffset >= leadership.log.logEndOffset else {
            return loop.makeSucceededFuture(Self.error(50002, "The registry is loading; retry", status: 500))
        }
        let outcome = SchemaRegistryAPI.handle(request, state: state)
        guard case .write(let records, let response) = outcome else {
            return loop.makeSucceededFuture(Self.response(outcome))
        }
        let batch: ByteBuffer
        do {
            batch = try RecordBatchBuilder.build(
                records: records.enumerated().map { i, r in
                    Record(
                        offsetDelta: Int32(i), key: ByteBuffer(bytes: r.key), value: r.value.map { ByteBuffer(bytes: $0) })
                }, baseTimestamp: Int64(Date().timeIntervalSince1970 * 1000))
        } catch {
            return loop.makeSucceededFuture(Self.error(50001, "Cannot encode the registry records: \(error)", status: 500))
        }
        return backend.append(0, batch: batch, on: loop).map { end in
            // Committed: apply it now, whether or not the published high watermark has moved yet.
            self.catchUp(through: end)
            return response
        }.recover { error in
            self.logger.warning("registry write not committed", metadata: ["error": "\(error)"])
            return Self.error(50003, "The write was not committed (\(error)); retry", status: 500)
        }
    }

    /// Whether schema `id` is registered (a live version) under `subject`, for broker-side validation. Answers
    /// from the last catch-up; an unknown id first makes this node apply what its replica has committed since.
    public func isRegistered(id: Int, subject: String) -> EventLoopFuture<Bool> {
        if registeredIds.withLockedValue({ $0[subject]?.contains(id) ?? false }) {
            return loop.makeSucceededFuture(true)
        }
        return loop.submit {
            self.catchUp()
            return self.registeredIds.withLockedValue { $0[subject]?.contains(id) ?? false }
        }
    }

    // MARK: state

    /// Applies the committed records of this node's replica that the state has not seen.
    /// `through`: an offset known committed beyond the published high watermark (this leader's own write).
    private func catchUp(through: Int64 = 0) {
        guard let (log, published) = backend.replica(0) else { return }
        let highWatermark = min(max(published, through), log.logEndOffset)
        if nextOffset < log.logStartOffset || nextOffset > log.logEndOffset {
            state = SchemaRegistryState()
            nextOffset = log.logStartOffset
        }
        var offset = nextOffset
        // A read error stops here; `offset` keeps what was applied and the next catch-up retries the rest.
        try? forEachBatch(in: log, from: &offset, upTo: highWatermark) { view in
            guard !view.header.attributes.isControl, let records = try? view.decodeRecords() else { return }
            for r in records {
                guard let key = r.key else { continue }
                state.apply(key: Array(buffer: key), value: r.value.map { Array(buffer: $0) })
            }
        }
        if offset != nextOffset || registeredIds.withLockedValue({ $0.isEmpty }) {
            let ids = state.liveIdsBySubject()
            registeredIds.withLockedValue { $0 = ids }
        }
        nextOffset = offset
    }

    // MARK: forwarding

    private func forwardToLeader(_ request: RegistryRequest) -> EventLoopFuture<RegistryResponse> {
        guard let forward, let leader = leaderOf() else {
            return loop.makeSucceededFuture(Self.error(50003, "No leader for _schemas; retry", status: 500))
        }
        let payload = Self.encode(request)
        return loop.makeFutureWithTask { () -> (RegistryResponse, Int64?) in
            do {
                var answer = try await forward(leader, payload)
                guard let response = Self.decodeResponse(&answer) else {
                    return (Self.error(50001, "Malformed answer from node \(leader)", status: 500), nil)
                }
                return (response, answer.readInteger(as: Int64.self))
            } catch {
                return (Self.error(50003, "Forwarding to node \(leader) failed: \(error)", status: 500), nil)
            }
        }.flatMap { response, appliedThrough in
            guard let appliedThrough else { return self.loop.makeSucceededFuture(response) }
            return self.waitUntilApplied(appliedThrough, deadline: .now() + .seconds(5)).map { response }
        }
    }

    /// Completes once this node's state has applied the `_schemas` log up to `offset` (or at the deadline).
    private func waitUntilApplied(_ offset: Int64, deadline: NIODeadline) -> EventLoopFuture<Void> {
        catchUp()
        if nextOffset >= offset || NIODeadline.now() >= deadline { return loop.makeSucceededVoidFuture() }
        return loop.scheduleTask(in: .milliseconds(10)) {}.futureResult.flatMap {
            self.waitUntilApplied(offset, deadline: deadline)
        }
    }

    static func response(_ outcome: RegistryOutcome) -> RegistryResponse {
        switch outcome {
        case .respond(let r): return r
        case .write(_, let then): return then
        }
    }

    static func error(_ code: Int, _ message: String, status: Int) -> RegistryResponse {
        let body = try? JSONSerialization.data(withJSONObject: ["error_code": code, "message": message])
        return RegistryResponse(
            status: status, contentType: "application/vnd.schemaregistry.v1+json", body: Array(body ?? Data()))
    }

    // Wire format of forwarded requests and answers: length-prefixed fields.
    static func encode(_ r: RegistryRequest) -> ByteBuffer {
        var b = ByteBuffer()
        for s in [r.method, r.path] { b.writeInteger(UInt32(s.utf8.count)); b.writeString(s) }
        b.writeInteger(UInt32(r.query.count))
        for (k, v) in r.query.sorted(by: { $0.key < $1.key }) {
            for s in [k, v] { b.writeInteger(UInt32(s.utf8.count)); b.writeString(s) }
        }
        b.writeInteger(UInt32(r.body.count))
        b.writeBytes(r.body)
        return b
    }

    static func decodeRequest(_ payload: ByteBuffer) -> RegistryRequest? {
        var b = payload
        func string() -> String? {
            guard let n: UInt32 = b.readInteger(), let s = b.readString(length: Int(n)) else { return nil }
            return s
        }
        guard let method = string(), let path = string(), let count: UInt32 = b.readInteger(), count < 10_000 else {
            return nil
        }
        var query: [String: String] = [:]
        for _ in 0..<count {
            guard let k = string(), let v = string() else { return nil }
            query[k] = v
        }
        guard let n: UInt32 = b.readInteger(), let body = b.readBytes(length: Int(n)) else { return nil }
        return RegistryRequest(method: method, path: path, query: query, body: body)
    }

    static func encode(_ r: RegistryResponse) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(Int32(r.status))
        b.writeInteger(UInt32(r.contentType.utf8.count))
        b.writeString(r.contentType)
        b.writeInteger(UInt32(r.body.count))
        b.writeBytes(r.body)
        return b
    }

    static func decodeResponse(_ b: inout ByteBuffer) -> RegistryResponse? {
        guard let status: Int32 = b.readInteger(), let n: UInt32 = b.readInteger(),
            let type = b.readString(length: Int(n)), let m: UInt32 = b.readInteger(),
            let body = b.readBytes(length: Int(m))
        else { return nil }
        return RegistryResponse(status: Int(status), contentType: type, body: body)
    }
}
