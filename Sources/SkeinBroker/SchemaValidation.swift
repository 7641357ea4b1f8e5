import KafkaRecords
import KafkaWire
import NIOCore
import SkeinModel

/// Broker-side schema validation, Confluent Server's `confluent.value.schema.validation` and
/// `confluent.key.schema.validation` topic configs: every record's value (key) must be in the Schema Registry wire
/// format (magic byte 0, then a 4-byte schema id) with an id registered under `<topic>-value` (`<topic>-key`), the
/// TopicNameStrategy. A partition with a record that is not is refused whole with INVALID_RECORD, before anything is
/// appended; null values (tombstones) and null keys pass.
extension Broker {
    /// The validation configs of a topic: (keys, values), and whether it is compacted (records need keys).
    func schemaValidation(of topic: String) -> (keys: Bool, values: Bool, compacted: Bool) {
        let configs: [String: String]?
        if let cluster {
            configs = cluster.controller.metadata.topics[topic]?.configs
        } else {
            configs = topics.topic(named: topic)?.configs
        }
        guard let configs else { return (false, false, false) }
        let policy = (configs["cleanup.policy"] ?? "delete").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return (
            configs["confluent.key.schema.validation"] == "true", configs["confluent.value.schema.validation"] == "true",
            policy.contains("compact")
        )
    }

    /// Runs `handler` on the partitions that pass validation and answers the others with INVALID_RECORD.
    func produceWithSchemaValidation(
        _ request: ProduceRequest, version: Int16, eventLoop: any EventLoop,
        _ handler: @escaping @Sendable (ProduceRequest) -> EventLoopFuture<HandlerResult>
    ) -> EventLoopFuture<HandlerResult> {
        let checked = request.topicData.map { ($0.name, schemaValidation(of: $0.name)) }
        guard checked.contains(where: { $0.1.keys || $0.1.values || $0.1.compacted }) else { return handler(request) }
        var checks: [EventLoopFuture<(String, Int32, (String, [Int32])?)>] = []
        for (topicData, (_, validation)) in zip(request.topicData, checked)
        where validation.keys || validation.values || validation.compacted {
            for partition in topicData.partitionData {
                // Kafka's LogValidator: a compacted topic refuses a batch with a record without a key, naming every
                // such record (RecordErrors) so that the producer fails those and retries none of the batch.
                if validation.compacted, let nullKeys = Self.recordsWithoutKey(partition.records), !nullKeys.isEmpty {
                    let problem =
                        "Compacted topic cannot accept message without key in topic partition "
                        + "\(topicData.name)-\(partition.index)."
                    checks.append(eventLoop.makeSucceededFuture((topicData.name, partition.index, (problem, nullKeys))))
                    continue
                }
                guard validation.keys || validation.values else { continue }
                checks.append(
                    validate(
                        partition.records, topic: topicData.name, keys: validation.keys, values: validation.values,
                        eventLoop: eventLoop
                    ).map { (topicData.name, partition.index, $0.map { ($0, [0]) }) })
            }
        }
        return EventLoopFuture.whenAllSucceed(checks, on: eventLoop).flatMap { results in
            var refused: [String: [Int32: (String, [Int32])]] = [:]
            for (topic, partition, problem) in results { if let problem { refused[topic, default: [:]][partition] = problem } }
            guard !refused.isEmpty else { return handler(request) }
            let refusedPartitions = refused
            var passing = request
            passing.topicData = request.topicData.compactMap { t in
                var t = t
                t.partitionData.removeAll { refusedPartitions[t.name]?[$0.index] != nil }
                return t.partitionData.isEmpty ? nil : t
            }
            let nothingLeft: HandlerResult = request.acks == 0 ? .noResponse : .response(ProduceResponse())
            let done: EventLoopFuture<HandlerResult> =
                passing.topicData.isEmpty ? eventLoop.makeSucceededFuture(nothingLeft) : handler(passing)
            return done.map { result in
                guard case .response(let any) = result, var response = any as? ProduceResponse else { return result }
                for (topic, partitions) in refusedPartitions.sorted(by: { $0.key < $1.key }) {
                    var entries: [ProduceResponse.PartitionProduceResponse] = []
                    for (index, (problem, records)) in partitions.sorted(by: { $0.key < $1.key }) {
                        var r = ProduceResponse.PartitionProduceResponse(index: index)
                        r.errorCode = KafkaErrorCode.invalidRecord.rawValue
                        r.baseOffset = -1
                        r.logAppendTimeMs = -1
                        r.logStartOffset = -1
                        if version >= 8 {
                            r.errorMessage = problem
                            r.recordErrors = records.map { .init(batchIndex: $0, batchIndexErrorMessage: problem) }
                        }
                        entries.append(r)
                    }
                    if let i = response.responses.firstIndex(where: { $0.name == topic }) {
                        response.responses[i].partitionResponses += entries
                    } else {
                        response.responses.append(.init(name: topic, partitionResponses: entries))
                    }
                }
                return .response(response)
            }
        }
    }

    /// The indexes (across the partition's batches) of the records without a key; nil when the records cannot be
    /// decoded (the append's own validation then answers).
    static func recordsWithoutKey(_ records: ByteBuffer?) -> [Int32]? {
        var out: [Int32] = []
        var index: Int32 = 0
        for view in RecordBatchSequence(records ?? ByteBuffer()) where !view.attributes.isControl {
            guard let decoded = try? view.decodeRecords() else { return nil }
            for record in decoded {
                if record.key == nil { out.append(index) }
                index += 1
            }
        }
        return out
    }

    /// Nil when every record passes, else why the first one does not.
    private func validate(
        _ records: ByteBuffer?, topic: String, keys: Bool, values: Bool, eventLoop: any EventLoop
    ) -> EventLoopFuture<String?> {
        var wanted: [(subject: String, id: Int, field: String, offsetDelta: Int32)] = []
        for view in RecordBatchSequence(records ?? ByteBuffer()) {
            let decoded: [Record]
            do {
                decoded = try view.decodeRecords()
            } catch {
                return eventLoop.makeSucceededFuture("Records that cannot be decoded cannot be validated: \(error)")
            }
            for record in decoded {
                for (check, field, bytes) in [(keys, "key", record.key), (values, "value", record.value)] where check {
                    guard let bytes else { continue }
                    guard bytes.readableBytes >= 5, bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) == 0,
                        let id: Int32 = bytes.getInteger(at: bytes.readerIndex + 1)
                    else {
                        return eventLoop.makeSucceededFuture(
                            "The \(field) of the record at offset delta \(record.offsetDelta) is not in the Schema Registry "
                                + "wire format (magic byte 0 and a schema id), which topic \(topic) requires "
                                + "(confluent.\(field).schema.validation=true).")
                    }
                    wanted.append(("\(topic)-\(field)", Int(id), field, record.offsetDelta))
                }
            }
        }
        var unique: [(subject: String, id: Int, field: String, offsetDelta: Int32)] = []
        var seen = Set<String>()
        for w in wanted where seen.insert("\(w.subject)\u{0}\(w.id)").inserted { unique.append(w) }
        let lookups = unique.map { w in
            registry.isRegistered(id: w.id, subject: w.subject).map { ok -> String? in
                ok
                    ? nil
                    : "The \(w.field) of the record at offset delta \(w.offsetDelta) names schema id \(w.id), which is "
                        + "not registered under subject \(w.subject)."
            }
        }
        return EventLoopFuture.whenAllSucceed(lookups, on: eventLoop).map { $0.compactMap { $0 }.first }
    }
}
