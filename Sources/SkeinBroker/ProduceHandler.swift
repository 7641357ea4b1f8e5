import KafkaRecords
import KafkaWire
import NIOCore
import SkeinModel
import SkeinStorage
import SkeinTransactions

extension Broker {
    /// Produce: every batch is validated (CRC, sizes, count), gets its offsets by an in-place rewrite of
    /// baseOffset and partitionLeaderEpoch, and is stored as received. On a single node an append is also
    /// the commit, so acks=1 and acks=all answer after the local append; acks=0 gets no response.
    /// `verification`: the KIP-890 verdicts of a transactional request's partitions (see
    /// `withTransactionVerification`).
    func handleProduce(
        _ request: ProduceRequest, version: Int16, verification: [TxnTopicPartition: ProduceVerification] = [:]
    ) -> HandlerResult {
        var response = ProduceResponse()
        let acksValid = request.acks == 0 || request.acks == 1 || request.acks == -1
        var appended = false
        for topicData in request.topicData {
            var topicResponse = ProduceResponse.TopicProduceResponse(name: topicData.name)
            let topic = topics.topic(named: topicData.name)
            for partitionData in topicData.partitionData {
                var result = ProduceResponse.PartitionProduceResponse(index: partitionData.index)
                result.baseOffset = -1
                result.logAppendTimeMs = -1
                result.logStartOffset = -1
                do {
                    guard acksValid else {
                        throw ProduceError(.invalidRequiredAcks, "acks must be 0, 1 or -1, got \(request.acks)")
                    }
                    guard let topic, let log = topic.partition(partitionData.index) else {
                        throw ProduceError(.unknownTopicOrPartition, "This server does not host this topic-partition.")
                    }
                    let verdict = verification[TxnTopicPartition(topicData.name, partitionData.index)]
                    if let error = verdict?.error {
                        throw ProduceError(error, "The transaction coordinator did not confirm this partition: \(error).")
                    }
                    let batches = try splitBatches(partitionData.records, version: version)
                    let timestampType: TimestampType =
                        TopicConfigs.value("message.timestamp.type", in: topic.configs) == "LogAppendTime"
                        ? .logAppendTime : .createTime
                    let infos = try log.appendMany(
                        batches, leaderEpoch: 0, timestampType: timestampType,
                        origin: verdict?.origin ?? .client(verified: false),
                        verificationGuard: verdict?.verificationGuard)
                    appended = true
                    if let first = infos.first, let last = infos.last {
                        result.baseOffset = first.baseOffset
                        result.logAppendTimeMs = last.logAppendTime
                        result.logStartOffset = last.logStartOffset
                        recordBytesIn(infos.reduce(0) { $0 + $1.sizeInBytes })
                    }
                } catch {
                    let (code, message) = Self.kafkaError(error)
                    result.errorCode = code.rawValue
                    if version >= 8 { result.errorMessage = message }
                    if code == .kafkaStorageError || code == .unknownServerError {
                        logger.error(
                            "append failed",
                            metadata: [
                                "topic": "\(topicData.name)", "partition": "\(partitionData.index)",
                                "error": "\(message)",
                            ])
                    }
                }
                topicResponse.partitionResponses.append(result)
            }
            response.responses.append(topicResponse)
        }
        if appended { fetchWaiters.notifyAppended() }
        return request.acks == 0 ? .noResponse : .response(response)
    }

    /// The batches of a partition's records, each a slice (no copy). Only RecordBatch v2 is accepted. An idempotent
    /// producer's batch must come alone (Kafka: one batch per partition from v3), so that a retry is one batch that
    /// is either wholly a duplicate or not. Its sequence is checked by the partition's producer state.
    func splitBatches(_ records: ByteBuffer?, version: Int16) throws -> [ByteBuffer] {
        guard let records, records.readableBytes > 0 else {
            throw ProduceError(.corruptMessage, "The produce request holds no record batch.")
        }
        var iterator = RecordBatchSequence(records).makeIterator()
        var batches: [ByteBuffer] = []
        var idempotent = false
        while let view = iterator.next() {
            idempotent = idempotent || view.header.producerId.rawValue >= 0
            batches.append(view.bytes)
        }
        if idempotent && batches.count > 1 {
            throw ProduceError(
                .invalidRecord, "An idempotent producer's request must carry exactly one record batch per partition.")
        }
        switch iterator.stop {
        case nil:
            break
        case .partialBatch?, .invalidBatchLength?:
            throw ProduceError(.corruptMessage, "The record batch is truncated or its length is invalid.")
        case let other?:
            // A legacy message set (magic 0 or 1) or an unknown magic.
            throw ProduceError(
                version < 3 ? .unsupportedForMessageFormat : .invalidRecord,
                "Produce requests must contain record batches of magic 2 (\(other)).")
        }
        return batches
    }
}

struct ProduceError: Error {
    let code: KafkaErrorCode
    let message: String
    init(_ code: KafkaErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}
