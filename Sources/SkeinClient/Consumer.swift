import KafkaRecords
import KafkaWire
import NIOCore
import SkeinModel

extension KafkaClient {
    /// What ListOffsets looks up.
    public enum OffsetSpec: Sendable, Equatable {
        case earliest
        case latest
        /// The first offset whose timestamp is at or after this many milliseconds since the epoch.
        case timestamp(Int64)

        var wireTimestamp: Int64 {
            switch self {
            case .earliest: return -2
            case .latest: return -1
            case .timestamp(let t): return t
            }
        }
    }

    /// One partition's offset by ListOffsets: the log start, the end (high watermark), or by timestamp
    /// (-1 when no record is that recent).
    public func offset(topic: String, partition: Int32, _ spec: OffsetSpec) async throws -> Int64 {
        try await withRetries(topic: topic) {
            let conn = try await leaderConnection(topic: topic, partition: partition)
            let version = try conn.version(for: ListOffsetsRequest.self)
            let request = ListOffsetsRequest(
                replicaId: BrokerId(-1),  // a consumer, not a follower
                topics: [
                    .init(name: topic, partitions: [.init(partitionIndex: partition, timestamp: spec.wireTimestamp)])
                ],
                timeoutMs: Int32(clamping: requestTimeout.milliseconds))
            let response = try await conn.send(request, version: version, timeout: requestTimeout.timeAmount).response
            guard
                let p = response.topics.first(where: { $0.name == topic })?.partitions
                    .first(where: { $0.partitionIndex == partition })
            else {
                throw KafkaClientError.protocolViolation("ListOffsets response does not mention \(topic)-\(partition)")
            }
            try KafkaError.check(p.errorCode, resource: "\(topic)-\(partition)")
            return version == 0 ? (p.oldStyleOffsets.first ?? -1) : p.offset
        }
    }

    /// Fetches one partition from `offset`, waiting up to `maxWait` for at least one byte.
    public func fetch(
        topic: String, partition: Int32, offset: Int64, maxWait: Duration = .milliseconds(500),
        maxBytes: Int32 = 1 << 20
    ) async throws -> FetchedPartition {
        let result = try await fetch(topic: topic, offsets: [partition: offset], maxWait: maxWait, maxBytes: maxBytes)
        guard let p = result[partition] else {
            throw KafkaClientError.protocolViolation("Fetch response does not mention \(topic)-\(partition)")
        }
        return p
    }

    /// Fetches several partitions of a topic, one request per leader, in parallel. `maxBytes` is per partition.
    public func fetch(
        topic: String, offsets: [Int32: Int64], maxWait: Duration = .milliseconds(500), maxBytes: Int32 = 1 << 20
    ) async throws -> [Int32: FetchedPartition] {
        try await withRetries(topic: topic) {
            let info = try await topicInfo(topic)
            var byLeader: [BrokerId: [Int32: Int64]] = [:]
            for (p, offset) in offsets {
                guard let leader = info.partitions.first(where: { $0.partition == p })?.leader else {
                    throw KafkaError(.unknownTopicOrPartition, resource: "\(topic)-\(p)")
                }
                guard leader != .none else { throw KafkaError(.leaderNotAvailable, resource: "\(topic)-\(p)") }
                byLeader[leader, default: [:]][p] = offset
            }
            var connections: [(BrokerConnection, [Int32: Int64])] = []
            for (leader, partOffsets) in byLeader {
                connections.append((try await connection(to: leader), partOffsets))
            }
            let timeout = (requestTimeout + maxWait).timeAmount
            return try await withThrowingTaskGroup(of: [Int32: FetchedPartition].self) { group in
                for (conn, partOffsets) in connections {
                    group.addTask {
                        try await Self.fetchFrom(
                            conn, topic: topic, topicId: info.id, offsets: partOffsets, maxWait: maxWait,
                            maxBytes: maxBytes, timeout: timeout)
                    }
                }
                var all: [Int32: FetchedPartition] = [:]
                for try await part in group { all.merge(part) { a, _ in a } }
                return all
            }
        }
    }

    private static func fetchFrom(
        _ conn: BrokerConnection, topic: String, topicId: KafkaUUID, offsets: [Int32: Int64], maxWait: Duration,
        maxBytes: Int32, timeout: TimeAmount
    ) async throws -> [Int32: FetchedPartition] {
        // v13+ names the topic by id only: without an id (old Metadata) stay at v12.
        let version = try conn.version(for: FetchRequest.self, atMost: topicId == .zero ? 12 : .max)
        let request = FetchRequest(
            maxWaitMs: Int32(clamping: maxWait.milliseconds), minBytes: 1,
            maxBytes: Int32(clamping: Int64(maxBytes) * Int64(offsets.count)),
            topics: [
                .init(
                    topic: topic, topicId: topicId,
                    partitions: offsets.sorted { $0.key < $1.key }.map {
                        .init(partition: $0.key, fetchOffset: $0.value, partitionMaxBytes: maxBytes)
                    })
            ])
        let response = try await conn.send(request, version: version, timeout: timeout).response
        try KafkaError.check(response.errorCode, resource: topic)
        var out: [Int32: FetchedPartition] = [:]
        for t in response.responses {
            for p in t.partitions {
                guard let offset = offsets[p.partitionIndex] else { continue }
                try KafkaError.check(p.errorCode, resource: "\(topic)-\(p.partitionIndex)")
                var fetched = try decode(topic: topic, partition: p.partitionIndex, records: p.records, from: offset)
                fetched.highWatermark = p.highWatermark
                fetched.logStartOffset = p.logStartOffset
                out[p.partitionIndex] = fetched
            }
        }
        return out
    }

    /// The records of a fetched partition at or after `offset`: batches are checked (CRC) and control
    /// batches (transaction markers, Raft voter changes) are skipped, though they still advance the offset.
    static func decode(topic: String, partition: Int32, records: ByteBuffer?, from offset: Int64) throws
        -> FetchedPartition
    {
        var result = FetchedPartition(
            partition: partition, records: [], nextOffset: offset, highWatermark: -1, logStartOffset: -1)
        guard let records, records.readableBytes > 0 else { return result }
        let (batches, stop) = RecordBatchSequence(records).scan()
        if batches.isEmpty, case .partialBatch = stop {
            throw KafkaError(
                .recordListTooLarge, message: "a batch at offset \(offset) is larger than the fetch size",
                resource: "\(topic)-\(partition)")
        }
        for view in batches {
            do {
                try view.validate()
            } catch {
                throw KafkaError(.corruptMessage, message: "\(error)", resource: "\(topic)-\(partition)")
            }
            result.nextOffset = max(result.nextOffset, view.lastOffset + 1)
            if view.attributes.isControl || view.lastOffset < offset { continue }
            let header = view.header
            for r in try view.decodeRecords() {
                let recordOffset = header.offset(of: r)
                guard recordOffset >= offset else { continue }
                result.records.append(
                    ConsumerRecord(
                        topic: topic, partition: partition, offset: recordOffset, timestamp: header.timestamp(of: r),
                        key: r.key, value: r.value, headers: r.headers))
            }
        }
        return result
    }

    /// Records of `topic` from `start`, fetched as they are read. `partitions` nil means all of them (as the
    /// metadata lists them when iteration starts). With `stopAtEnd` the sequence ends once every partition is
    /// read up to its high watermark, like kcat's `-e`; otherwise it waits for new records until cancelled.
    public nonisolated func records(
        topic: String, partitions: [Int32]? = nil, from start: StartPosition = .earliest, stopAtEnd: Bool = false,
        maxWait: Duration = .milliseconds(500)
    ) -> RecordStream {
        RecordStream(
            client: self, topic: topic, partitions: partitions, start: start, stopAtEnd: stopAtEnd, maxWait: maxWait)
    }
}

/// An asynchronous sequence of consumed records; see `KafkaClient.records(topic:partitions:from:stopAtEnd:maxWait:)`.
/// Records of one partition come in offset order; partitions interleave by fetch.
public struct RecordStream: AsyncSequence, Sendable {
    public typealias Element = ConsumerRecord
    let client: KafkaClient
    let topic: String
    let partitions: [Int32]?
    let start: StartPosition
    let stopAtEnd: Bool
    let maxWait: Duration

    public func makeAsyncIterator() -> Iterator { Iterator(stream: self) }

    public struct Iterator: AsyncIteratorProtocol {
        let stream: RecordStream
        /// The next offset per partition; nil until the first `next()` resolved the start.
        var positions: [Int32: Int64]?
        /// The end per partition as last seen (ListOffsets at the start, then each fetch's high watermark).
        var ends: [Int32: Int64] = [:]
        var buffered: [ConsumerRecord] = []
        var index = 0

        public mutating func next() async throws -> ConsumerRecord? {
            while true {
                if index < buffered.count {
                    defer { index += 1 }
                    return buffered[index]
                }
                try Task.checkCancellation()
                let client = stream.client
                let topic = stream.topic
                if positions == nil { try await resolveStart() }
                var wanted = positions ?? [:]
                if stream.stopAtEnd {
                    wanted = wanted.filter { p, offset in offset < (ends[p] ?? .max) }
                    if wanted.isEmpty { return nil }
                }
                let fetched = try await client.fetch(topic: topic, offsets: wanted, maxWait: stream.maxWait)
                buffered = fetched.keys.sorted().flatMap { fetched[$0]!.records }
                index = 0
                for (p, f) in fetched {
                    positions?[p] = f.nextOffset
                    ends[p] = f.highWatermark
                }
            }
        }

        private mutating func resolveStart() async throws {
            let client = stream.client
            let topic = stream.topic
            let all = try await client.topicInfo(topic, refresh: true).partitions.map(\.partition)
            let chosen = stream.partitions ?? all
            var positions: [Int32: Int64] = [:]
            for p in chosen {
                switch stream.start {
                case .earliest: positions[p] = try await client.offset(topic: topic, partition: p, .earliest)
                case .latest: positions[p] = try await client.offset(topic: topic, partition: p, .latest)
                case .offset(let o): positions[p] = o
                }
                if stream.stopAtEnd { ends[p] = try await client.offset(topic: topic, partition: p, .latest) }
            }
            self.positions = positions
        }
    }
}
