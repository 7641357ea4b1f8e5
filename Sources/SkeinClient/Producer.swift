import Foundation
import KafkaRecords
import KafkaWire
import NIOCore
import SkeinModel

extension KafkaClient {
    /// Produces `records` to `topic` and returns where each partition's batch landed, sorted by partition.
    ///
    /// With `partition` nil each record's partition comes from its key (murmur2, as the Java client) or, for
    /// a null key, round-robin. Each partition gets one batch (a Produce request carries one batch per
    /// partition), so callers producing a large stream should call this in chunks below the broker's
    /// `message.max.bytes`. Partitions failing with a retriable error are retried after a metadata refresh.
    public func produce(
        topic: String, partition: Int32? = nil, records: [ProducerRecord], acks: Acks = .all,
        compression: CompressionCodec = .none
    ) async throws -> [ProduceResult] {
        guard !records.isEmpty else { return [] }
        let info = try await topicInfo(topic)
        let count = Int32(info.partitions.count)
        var byPartition: [Int32: [ProducerRecord]] = [:]
        if let partition {
            guard partition >= 0 && partition < count else {
                throw KafkaError(
                    .unknownTopicOrPartition, message: "\(topic) has \(count) partitions",
                    resource: "\(topic)-\(partition)")
            }
            byPartition[partition] = records
        } else {
            for r in records {
                let p = partitioner.partition(topic: topic, key: r.key, partitionCount: count)
                byPartition[p, default: []].append(r)
            }
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var pending: [Int32: (batch: ByteBuffer, count: Int)] = [:]
        for (p, rs) in byPartition {
            let batch = try RecordBatchBuilder.build(
                records: rs.enumerated().map { i, r in
                    Record(offsetDelta: Int32(i), key: r.key, value: r.value, headers: r.headers)
                },
                baseTimestamp: now, compression: compression)
            pending[p] = (batch, rs.count)
        }

        var results: [ProduceResult] = []
        var attempt = 1
        while !pending.isEmpty {
            // One request per leader; partitions that failed retriably stay pending for the next round.
            var byLeader: [BrokerId: [Int32]] = [:]
            var lastError: (any Error)?
            for p in pending.keys.sorted() {
                let leader = try await topicInfo(topic).partitions.first { $0.partition == p }?.leader ?? .none
                byLeader[leader, default: []].append(p)
            }
            for (leader, partitions) in byLeader {
                do {
                    guard leader != .none else {
                        throw KafkaError(.leaderNotAvailable, resource: "\(topic)-\(partitions[0])")
                    }
                    let conn = try await connection(to: leader)
                    let done = try await sendProduce(
                        conn, topic: topic, batches: partitions.map { ($0, pending[$0]!.batch) }, acks: acks)
                    for (p, outcome) in done {
                        switch outcome {
                        case .success(let offset):
                            results.append(
                                ProduceResult(partition: p, baseOffset: offset, recordCount: pending[p]!.count))
                            pending[p] = nil
                        case .failure(let error):
                            guard error.isRetriable else { throw error }
                            lastError = error
                        }
                    }
                } catch let error as KafkaError where error.isRetriable {
                    lastError = error
                } catch KafkaClientError.connectionClosed(let b) {
                    lastError = KafkaClientError.connectionClosed(broker: b)
                }
            }
            guard !pending.isEmpty else { break }
            if attempt >= 5, let lastError { throw lastError }
            invalidate(topic: topic)
            try await Task.sleep(for: .milliseconds(50 << min(attempt, 5)))
            attempt += 1
        }
        return results.sorted { $0.partition < $1.partition }
    }

    /// One Produce request; per partition, the base offset or the error.
    private func sendProduce(
        _ conn: BrokerConnection, topic: String, batches: [(Int32, ByteBuffer)], acks: Acks
    ) async throws -> [(Int32, Result<Int64, KafkaError>)] {
        let version = try conn.version(for: ProduceRequest.self)
        let request = ProduceRequest(
            acks: acks.rawValue, timeoutMs: Int32(clamping: requestTimeout.milliseconds),
            topicData: [.init(name: topic, partitionData: batches.map { .init(index: $0.0, records: $0.1) })])
        if acks == .none {
            try await conn.sendWithoutResponse(request, version: version, timeout: requestTimeout.timeAmount)
            return batches.map { ($0.0, .success(-1)) }
        }
        let response = try await conn.send(request, version: version, timeout: requestTimeout.timeAmount).response
        var out: [(Int32, Result<Int64, KafkaError>)] = []
        for t in response.responses where t.name == topic {
            for p in t.partitionResponses {
                if p.errorCode == 0 {
                    out.append((p.index, .success(p.baseOffset)))
                } else {
                    let message = p.errorMessage ?? p.recordErrors.first?.batchIndexErrorMessage
                    out.append(
                        (
                            p.index,
                            .failure(
                                KafkaError(
                                    rawCode: p.errorCode, message: message, resource: "\(topic)-\(p.index)"))
                        ))
                }
            }
        }
        let answered = Set(out.map(\.0))
        for (p, _) in batches where !answered.contains(p) {
            throw KafkaClientError.protocolViolation("Produce response does not mention \(topic)-\(p)")
        }
        return out
    }
}
