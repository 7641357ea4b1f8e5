import KafkaWire
import NIOConcurrencyHelpers
import NIOCore
import SkeinModel
import SkeinStorage

/// Fetches waiting for data (Kafka's delayed fetch): each registers a one-shot wake-up that an append
/// triggers, and unregisters when it completes, so that fetches timing out on idle topics leave nothing behind.
final class FetchWaiters: Sendable {
    private let state = NIOLockedValueBox((next: UInt64(0), waiters: [UInt64: @Sendable () -> Void]()))

    func register(_ wake: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLockedValue { s in
            s.next += 1
            s.waiters[s.next] = wake
            return s.next
        }
    }

    func unregister(_ id: UInt64) {
        _ = state.withLockedValue { $0.waiters.removeValue(forKey: id) }
    }

    /// Fetches waiting right now.
    var count: Int { state.withLockedValue { $0.waiters.count } }

    /// Wakes every waiting fetch; each re-reads and either answers or registers again.
    func notifyAppended() {
        let woken = state.withLockedValue { s -> [@Sendable () -> Void] in
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for wake in woken { wake() }
    }
}

extension Broker {
    /// Single-node epochs: every partition has had one leader, this node, since creation.
    static let leaderEpoch: Int32 = 0

    /// Fetch: reads whole batches up to the high watermark, with Kafka's size limits, and waits up to
    /// maxWaitMs for minBytes. Fetch sessions (KIP-227) are not kept: a new-session request gets session id 0,
    /// which tells clients to keep sending full fetches, and an unknown session id gets
    /// FETCH_SESSION_ID_NOT_FOUND, as a Kafka broker with a full session cache answers.
    func handleFetch(
        _ request: FetchRequest, version: Int16, zeroCopy: Bool, eventLoop: any EventLoop
    ) -> EventLoopFuture<HandlerResult> {
        if version >= 7 && request.sessionId != 0 {
            var response = FetchResponse()
            response.errorCode = KafkaErrorCode.fetchSessionIdNotFound.rawValue
            return eventLoop.makeSucceededFuture(.response(response))
        }
        let promise = eventLoop.makePromise(of: HandlerResult.self)
        let deadline = NIODeadline.now() + .milliseconds(Int64(max(0, request.maxWaitMs)))
        let done = NIOLockedValueBox(false)
        let waiter = NIOLockedValueBox<UInt64?>(nil)
        @Sendable func attempt(final: Bool) {
            // Register before reading, so that an append landing during the read still wakes this fetch.
            if !final && request.maxWaitMs > 0 {
                let id = fetchWaiters.register {
                    eventLoop.execute { if !done.withLockedValue({ $0 }) { attempt(final: false) } }
                }
                waiter.withLockedValue { $0 = id }
            }
            let (response, bytes, sawError, splices) = readFetch(request, version: version, zeroCopy: zeroCopy)
            let satisfied =
                bytes >= Int(max(request.minBytes, 0)) || sawError || request.maxWaitMs <= 0
                || NIODeadline.now() >= deadline
            guard satisfied || final else { return }  // stays registered until an append or the timeout
            let first = done.withLockedValue { d -> Bool in
                defer { d = true }
                return !d
            }
            guard first else { return }
            if let id = waiter.withLockedValue({ $0 }) { fetchWaiters.unregister(id) }
            recordBytesOut(bytes)
            promise.succeed(splices.isEmpty ? .response(response) : .responseWithFiles(response, splices))
        }
        attempt(final: false)
        if !done.withLockedValue({ $0 }) {
            let timeout = eventLoop.scheduleTask(deadline: deadline) { attempt(final: true) }
            promise.futureResult.whenComplete { _ in timeout.cancel() }
        }
        return promise.futureResult
    }

    /// One pass over the requested partitions: the response, the record bytes in it, and whether any
    /// partition answered with an error (which completes a waiting fetch at once, as in Kafka).
    private func readFetch(
        _ request: FetchRequest, version: Int16, zeroCopy: Bool
    ) -> (FetchResponse, Int, Bool, [RecordsSplice]) {
        var response = FetchResponse()
        var splices: [RecordsSplice] = []
        let responseLimit = Int(min(version >= 3 ? request.maxBytes : Int32.max, config.fetchMaxBytes))
        var total = 0
        var sawError = false
        let readCommitted = version >= 4 && request.isolationLevel == 1
        for fetchTopic in request.topics {
            var topicResponse = FetchResponse.FetchableTopicResponse(
                topic: fetchTopic.topic, topicId: fetchTopic.topicId)
            for p in fetchTopic.partitions {
                // Records are never null, even with an error: librdkafka refuses a null record set.
                var data = FetchResponse.PartitionData(partitionIndex: p.partition, records: ByteBuffer())
                data.highWatermark = -1
                data.lastStableOffset = -1
                data.logStartOffset = -1
                data.abortedTransactions = readCommitted ? [] : nil
                let served = servePartition(
                    name: version >= 13 ? nil : fetchTopic.topic, id: version >= 13 ? fetchTopic.topicId : nil,
                    partition: p.partition)
                guard case .local(let log, let logEnd, let leaderEpoch) = served else {
                    if case .error(let code) = served { data.errorCode = code.rawValue }
                    sawError = true
                    topicResponse.partitions.append(data)
                    continue
                }
                data.highWatermark = logEnd
                data.logStartOffset = log.logStartOffset
                let lastStable: Int64
                do {
                    lastStable = try log.lastStableOffset(highWatermark: logEnd)
                } catch {
                    data.errorCode = Self.kafkaError(error).code.rawValue
                    sawError = true
                    topicResponse.partitions.append(data)
                    continue
                }
                data.lastStableOffset = lastStable
                // read_committed reads below the last stable offset (Kafka's FetchIsolation.TXN_COMMITTED).
                let readLimit = readCommitted ? lastStable : logEnd
                if version >= 9, let epochError = Self.checkLeaderEpoch(p.currentLeaderEpoch, leaderEpoch: leaderEpoch)
                {
                    data.errorCode = epochError.rawValue
                    sawError = true
                    topicResponse.partitions.append(data)
                    continue
                }
                let room = min(Int(max(p.partitionMaxBytes, 0)), responseLimit - total)
                do {
                    if p.fetchOffset == logEnd || (p.fetchOffset >= readLimit && p.fetchOffset <= logEnd)
                        || room <= 0 && total > 0
                    {
                        data.records = ByteBuffer()
                    } else {
                        let result = try log.read(
                            fromOffset: p.fetchOffset, maxBytes: max(room, 0), maxOffset: readLimit,
                            minOneBatch: total == 0)
                        total += result.sizeInBytes
                        if readCommitted && result.sizeInBytes > 0 {
                            data.abortedTransactions = try log.abortedTransactions(
                                from: p.fetchOffset, upTo: result.nextOffset
                            ).map {
                                FetchResponse.AbortedTransaction(
                                    producerId: ProducerId($0.producerId), firstOffset: $0.firstOffset)
                            }
                        }
                        if zeroCopy && result.sizeInBytes > 0 {
                            // Sent from the segment files by sendfile: see FetchSplicer.
                            let splice = RecordsSplice(chunks: result.chunks, length: result.sizeInBytes)
                            splices.append(splice)
                            data.records = splice.marker
                        } else {
                            data.records = try result.readBytes()
                        }
                    }
                } catch {
                    data.errorCode = Self.kafkaError(error).code.rawValue
                    sawError = true
                }
                topicResponse.partitions.append(data)
            }
            response.responses.append(topicResponse)
        }
        return (response, total, sawError, splices)
    }

    /// KIP-320: a client's view of the leader epoch must match the leader's.
    static func checkLeaderEpoch(_ current: Int32, leaderEpoch: Int32) -> KafkaErrorCode? {
        if current < 0 || current == leaderEpoch { return nil }
        return current > leaderEpoch ? .unknownLeaderEpoch : .fencedLeaderEpoch
    }

    func handleListOffsets(_ request: ListOffsetsRequest, version: Int16) -> ListOffsetsResponse {
        var response = ListOffsetsResponse()
        for t in request.topics {
            var topicResponse = ListOffsetsResponse.ListOffsetsTopicResponse(name: t.name)
            for p in t.partitions {
                var r = ListOffsetsResponse.ListOffsetsPartitionResponse(
                    partitionIndex: p.partitionIndex, timestamp: -1, offset: -1)
                let served = servePartition(name: t.name, id: nil, partition: p.partitionIndex)
                guard case .local(let log, let highWatermark, let leaderEpoch) = served else {
                    if case .error(let code) = served { r.errorCode = code.rawValue }
                    topicResponse.partitions.append(r)
                    continue
                }
                if version >= 4, let epochError = Self.checkLeaderEpoch(p.currentLeaderEpoch, leaderEpoch: leaderEpoch)
                {
                    r.errorCode = epochError.rawValue
                    topicResponse.partitions.append(r)
                    continue
                }
                if version >= 4 { r.leaderEpoch = leaderEpoch }
                do {
                    switch p.timestamp {
                    case -1:
                        // latest: the high watermark, or for read_committed the last stable offset
                        r.offset =
                            version >= 2 && request.isolationLevel == 1
                            ? try log.lastStableOffset(highWatermark: highWatermark) : highWatermark
                    case -2, -4: r.offset = log.logStartOffset  // earliest, earliest local
                    case -3:
                        if let (offset, ts) = try log.maxTimestampOffset() {
                            r.offset = offset
                            r.timestamp = ts
                        }
                    case -5:
                        break  // latest tiered: no tiered storage, so -1
                    default:
                        if let (offset, ts) = try log.offsetForTimestamp(p.timestamp) {
                            r.offset = offset
                            r.timestamp = ts
                        }
                    }
                } catch {
                    r.errorCode = Self.kafkaError(error).code.rawValue
                }
                topicResponse.partitions.append(r)
            }
            response.topics.append(topicResponse)
        }
        return response
    }

    func handleOffsetForLeaderEpoch(_ request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
        var response = OffsetForLeaderEpochResponse()
        for t in request.topics {
            var topicResult = OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(topic: t.topic)
            let topic = topics.topic(named: t.topic)
            for p in t.partitions {
                var r = OffsetForLeaderEpochResponse.EpochEndOffset(
                    partition: p.partition, leaderEpoch: -1, endOffset: -1)
                if cluster != nil {
                    switch servePartition(name: t.topic, id: nil, partition: p.partition) {
                    case .error(let code):
                        r.errorCode = code.rawValue
                    case .local(let log, _, let leaderEpoch):
                        if let epochError = Self.checkLeaderEpoch(p.currentLeaderEpoch, leaderEpoch: leaderEpoch) {
                            r.errorCode = epochError.rawValue
                        } else {
                            do {
                                let (epoch, end) = try Self.clusterEpochEndOffset(
                                    log: log, currentEpoch: leaderEpoch, requested: p.leaderEpoch)
                                r.leaderEpoch = epoch
                                r.endOffset = end
                            } catch {
                                r.errorCode = Self.kafkaError(error).code.rawValue
                            }
                        }
                    }
                } else if let log = topic?.partition(p.partition) {
                    if let epochError = Self.checkLeaderEpoch(p.currentLeaderEpoch, leaderEpoch: Self.leaderEpoch) {
                        r.errorCode = epochError.rawValue
                    } else if p.leaderEpoch >= Self.leaderEpoch {
                        // The only epoch is 0: it ends at the log end offset.
                        r.leaderEpoch = Self.leaderEpoch
                        r.endOffset = log.logEndOffset
                    }
                } else {
                    r.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                }
                topicResult.partitions.append(r)
            }
            response.topics.append(topicResult)
        }
        return response
    }
}
