import KafkaRecords
import KafkaWire
import Logging
import NIOCore
import SkeinGroups
import SkeinModel
import SkeinReplication
import SkeinStorage
import SkeinTransactions
import SkeinTransport

/// The transaction APIs: InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
/// TxnOffsetCommit (through the group coordinator), DescribeTransactions, ListTransactions and DescribeProducers;
/// the markers a coordinator writes (locally, or at the partition's leader over RPC); and the KIP-890 check of a
/// transactional batch that would start a transaction in a partition. The wire types and the coordinator's share
/// names, so both are always written with their module.
extension Broker {
    /// RPC kinds between nodes: a WriteTxnMarkers request for partitions the receiver leads, and an
    /// AddPartitionsToTxn verification (v4, verifyOnly) for transactional ids the receiver coordinates.
    static let writeTxnMarkersKind: UInt16 = 21
    static let verifyTxnKind: UInt16 = 22
    /// Markers are written as transaction version 1 (EndTxn v5 is not advertised).
    static let markerTransactionVersion: Int16 = 1

    func dispatchTxnRequest(_ body: any KafkaRequest, version: Int16, eventLoop: any EventLoop)
        -> EventLoopFuture<HandlerResult>?
    {
        let future: EventLoopFuture<any KafkaResponse>
        switch body {
        case let r as KafkaWire.InitProducerIdRequest where r.transactionalId != nil:
            future = initTransactionalProducerId(r, version: version).map { $0 }
        case let r as KafkaWire.AddPartitionsToTxnRequest:
            future = addPartitionsToTxn(r, version: version).map { $0 }
        case let r as KafkaWire.AddOffsetsToTxnRequest:
            future = addOffsetsToTxn(r, version: version).map { $0 }
        case let r as KafkaWire.EndTxnRequest:
            future = endTxn(r, version: version).map { $0 }
        case let r as KafkaWire.TxnOffsetCommitRequest:
            future = txnOffsetCommit(r, version: version).map { $0 }
        case let r as KafkaWire.DescribeTransactionsRequest:
            future = describeTransactions(r).map { $0 }
        case let r as KafkaWire.ListTransactionsRequest:
            future = listTransactions(r, version: version).map { $0 }
        case let r as KafkaWire.DescribeProducersRequest:
            future = eventLoop.makeSucceededFuture(describeProducers(r))
        default:
            return nil
        }
        return future.hop(to: eventLoop).map { .response($0) }
    }

    // MARK: coordinator lookup

    /// The number of `__transaction_state` partitions, creating the topic on first use as Kafka does (nil while
    /// it is being created).
    func transactionStateTopicPartitions() async -> Int32? {
        if let count = txns.partitionCount { return count }
        await Self.createInternalTopic(
            transactionStateTopic, partitions: config.transactionStateTopicPartitions,
            replicationFactor: config.transactionStateTopicReplicationFactor, topics: topics, cluster: cluster,
            logger: logger)
        return cluster == nil ? txns.partitionCount : nil
    }

    /// The `__transaction_state` partition of a transactional id (Kafka's `partitionFor`: the same hash as groups).
    func transactionPartition(_ transactionalId: String) -> Int32? {
        txns.partitionCount.map { offsetsTopicPartition(for: transactionalId, partitionCount: $0) }
    }

    /// Sends a request to its transactional id's coordinator (NOT_COORDINATOR when the topic does not exist yet:
    /// the client looks the coordinator up again, which creates it).
    func submitTxn(_ transactionalId: String, _ request: TxnRequest) -> EventLoopFuture<TxnOutcome> {
        guard let p = transactionPartition(transactionalId) else {
            return txns.loop.makeSucceededFuture(.error(.notCoordinator))
        }
        return txns.submit(request, partition: p)
    }

    // MARK: requests

    func initTransactionalProducerId(_ r: KafkaWire.InitProducerIdRequest, version: Int16)
        -> EventLoopFuture<KafkaWire.InitProducerIdResponse>
    {
        let transactionalId = r.transactionalId ?? ""
        let request = SkeinTransactions.InitProducerIdRequest(
            transactionalId: transactionalId, transactionTimeoutMs: r.transactionTimeoutMs,
            producerId: version >= 3 ? r.producerId.rawValue : -1, producerEpoch: version >= 3 ? r.producerEpoch : -1,
            apiVersion: version)
        return submitTxn(transactionalId, .initProducerId(request)).map { outcome in
            var response = KafkaWire.InitProducerIdResponse()
            response.producerId = .none
            response.producerEpoch = -1
            switch outcome {
            case .error(let code): response.errorCode = code.rawValue
            case .response(.initProducerId(let i)):
                response.errorCode = i.errorCode.rawValue
                response.producerId = ProducerId(i.producerId)
                response.producerEpoch = i.producerEpoch
            case .response: response.errorCode = KafkaErrorCode.unknownServerError.rawValue
            }
            return response
        }
    }

    func addPartitionsToTxn(_ r: KafkaWire.AddPartitionsToTxnRequest, version: Int16)
        -> EventLoopFuture<KafkaWire.AddPartitionsToTxnResponse>
    {
        // v0-3 (clients) carry one transaction at the top level; v4+ (brokers) a list, possibly verify-only.
        let transactions: [KafkaWire.AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction] =
            version <= 3
            ? [
                .init(
                    transactionalId: r.v3AndBelowTransactionalId, producerId: r.v3AndBelowProducerId,
                    producerEpoch: r.v3AndBelowProducerEpoch, verifyOnly: false, topics: r.v3AndBelowTopics)
            ] : r.transactions
        let futures = transactions.map { t in
            let partitions = t.topics.flatMap { topic in topic.partitions.map { TxnTopicPartition(topic.name, $0) } }
            // Kafka (KafkaApis.handleAddPartitionsToTxnRequest): partitions this cluster does not know are
            // UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED; nothing is added.
            let unknown = Set(partitions.filter { !partitionExists($0) })
            if !unknown.isEmpty {
                var errors: [TxnTopicPartition: KafkaErrorCode] = [:]
                for tp in partitions { errors[tp] = unknown.contains(tp) ? .unknownTopicOrPartition : .operationNotAttempted }
                return txns.loop.makeSucceededFuture(Self.addPartitionsResult(t, errors: errors))
            }
            let request = SkeinTransactions.AddPartitionsToTxnRequest(
                transactionalId: t.transactionalId, producerId: t.producerId.rawValue, producerEpoch: t.producerEpoch,
                partitions: partitions, verifyOnly: t.verifyOnly, apiVersion: version)
            return submitTxn(t.transactionalId, .addPartitionsToTxn(request)).map { outcome in
                var errors: [TxnTopicPartition: KafkaErrorCode] = [:]
                switch outcome {
                case .error(let code): for tp in partitions { errors[tp] = code }
                case .response(.addPartitionsToTxn(let a)): errors = a.errors
                case .response: for tp in partitions { errors[tp] = .unknownServerError }
                }
                // Before v4 (KIP-890) clients do not know TRANSACTION_ABORTABLE.
                if version < 4 {
                    errors = errors.mapValues { $0 == .transactionAbortable ? .invalidTxnState : $0 }
                }
                return Self.addPartitionsResult(t, errors: errors)
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: txns.loop).map { results in
            var response = KafkaWire.AddPartitionsToTxnResponse()
            if version <= 3 {
                response.resultsByTopicV3AndBelow = results.first?.topicResults ?? []
            } else {
                response.resultsByTransaction = results
            }
            return response
        }
    }

    static func addPartitionsResult(
        _ t: KafkaWire.AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction,
        errors: [TxnTopicPartition: KafkaErrorCode]
    ) -> KafkaWire.AddPartitionsToTxnResponse.AddPartitionsToTxnResult {
        KafkaWire.AddPartitionsToTxnResponse.AddPartitionsToTxnResult(
            transactionalId: t.transactionalId,
            topicResults: t.topics.map { topic in
                .init(
                    name: topic.name,
                    resultsByPartition: topic.partitions.map {
                        .init(
                            partitionIndex: $0,
                            partitionErrorCode: (errors[TxnTopicPartition(topic.name, $0)] ?? .none).rawValue)
                    })
            })
    }

    /// Whether the cluster (this node's metadata) has this topic partition.
    func partitionExists(_ tp: TxnTopicPartition) -> Bool {
        guard tp.partition >= 0 else { return false }
        if let cluster {
            guard let topic = cluster.controller.metadata.topics[tp.topic] else { return false }
            return tp.partition < topic.partitionCount
        }
        return topics.topic(named: tp.topic)?.partition(tp.partition) != nil
    }

    func addOffsetsToTxn(_ r: KafkaWire.AddOffsetsToTxnRequest, version: Int16)
        -> EventLoopFuture<KafkaWire.AddOffsetsToTxnResponse>
    {
        let request = SkeinTransactions.AddOffsetsToTxnRequest(
            transactionalId: r.transactionalId, producerId: r.producerId.rawValue, producerEpoch: r.producerEpoch,
            groupId: r.groupId, apiVersion: version)
        return submitTxn(r.transactionalId, .addOffsetsToTxn(request)).map { outcome in
            var response = KafkaWire.AddOffsetsToTxnResponse()
            switch outcome {
            case .error(let code): response.errorCode = code.rawValue
            case .response(.addOffsetsToTxn(let code)): response.errorCode = code.rawValue
            case .response: response.errorCode = KafkaErrorCode.unknownServerError.rawValue
            }
            if version < 4 && response.errorCode == KafkaErrorCode.transactionAbortable.rawValue {
                response.errorCode = KafkaErrorCode.invalidTxnState.rawValue
            }
            return response
        }
    }

    func endTxn(_ r: KafkaWire.EndTxnRequest, version: Int16) -> EventLoopFuture<KafkaWire.EndTxnResponse> {
        let request = SkeinTransactions.EndTxnRequest(
            transactionalId: r.transactionalId, producerId: r.producerId.rawValue, producerEpoch: r.producerEpoch,
            commit: r.committed, apiVersion: version)
        return submitTxn(r.transactionalId, .endTxn(request)).map { outcome in
            var response = KafkaWire.EndTxnResponse()
            response.producerId = .none
            response.producerEpoch = -1
            switch outcome {
            case .error(let code): response.errorCode = code.rawValue
            case .response(.endTxn(let e)):
                response.errorCode = e.errorCode.rawValue
                response.producerId = ProducerId(e.producerId)
                response.producerEpoch = e.producerEpoch
            case .response: response.errorCode = KafkaErrorCode.unknownServerError.rawValue
            }
            if version < 4 && response.errorCode == KafkaErrorCode.transactionAbortable.rawValue {
                response.errorCode = KafkaErrorCode.invalidTxnState.rawValue
            }
            return response
        }
    }

    /// TxnOffsetCommit goes to the group's coordinator, which stores the offsets as pending in a transactional
    /// batch of the producer; the transaction's marker in that `__consumer_offsets` partition settles them.
    func txnOffsetCommit(_ r: KafkaWire.TxnOffsetCommitRequest, version: Int16)
        -> EventLoopFuture<KafkaWire.TxnOffsetCommitResponse>
    {
        var partitions: [OffsetCommitPartition] = []
        for topic in r.topics {
            for p in topic.partitions {
                partitions.append(
                    OffsetCommitPartition(
                        TopicPartition(topic.name, p.partitionIndex), offset: p.committedOffset,
                        leaderEpoch: version >= 2 ? p.committedLeaderEpoch : -1, metadata: p.committedMetadata))
            }
        }
        let request = SkeinGroups.TxnOffsetCommitRequest(
            transactionalId: r.transactionalId, groupId: r.groupId, producerId: r.producerId.rawValue,
            producerEpoch: r.producerEpoch, generationId: version >= 3 ? r.generationId : -1,
            memberId: version >= 3 ? r.memberId : "", groupInstanceId: version >= 3 ? r.groupInstanceId : nil,
            partitions: partitions)
        let committed = partitions
        return submitGroup(
            r.groupId, .txnOffsetCommit(request), transactional: (r.producerId.rawValue, r.producerEpoch)
        ).map { outcome in
            let error = Self.commitErrors(outcome, committed)
            var response = KafkaWire.TxnOffsetCommitResponse()
            response.topics = r.topics.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map {
                        .init(partitionIndex: $0.partitionIndex, errorCode: error(topic.name, $0.partitionIndex))
                    })
            }
            return response
        }
    }

    func describeTransactions(_ r: KafkaWire.DescribeTransactionsRequest)
        -> EventLoopFuture<KafkaWire.DescribeTransactionsResponse>
    {
        let futures = r.transactionalIds.map { id in
            submitTxn(id, .describeTransactions(DescribeTransactionsRequest(transactionalIds: [id]))).map {
                outcome -> KafkaWire.DescribeTransactionsResponse.TransactionState in
                var state = KafkaWire.DescribeTransactionsResponse.TransactionState(
                    transactionalId: id, transactionState: "", transactionTimeoutMs: 0, transactionStartTimeMs: -1,
                    producerId: .none, producerEpoch: -1)
                switch outcome {
                case .error(let code):
                    state.errorCode = code.rawValue
                case .response(.describeTransactions(let d)):
                    guard let t = d.transactionStates.first else { break }
                    state.errorCode = t.errorCode.rawValue
                    state.transactionState = t.state
                    state.transactionTimeoutMs = t.transactionTimeoutMs
                    state.transactionStartTimeMs = t.transactionStartTimeMs
                    state.producerId = ProducerId(t.producerId)
                    state.producerEpoch = t.producerEpoch
                    state.topics = t.topics.map { .init(topic: $0.topic, partitions: $0.partitions) }
                case .response:
                    state.errorCode = KafkaErrorCode.unknownServerError.rawValue
                }
                return state
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: txns.loop).map {
            KafkaWire.DescribeTransactionsResponse(transactionStates: $0)
        }
    }

    /// ListTransactions answers for the coordinators this node runs (an admin client asks every broker).
    func listTransactions(_ r: KafkaWire.ListTransactionsRequest, version: Int16)
        -> EventLoopFuture<KafkaWire.ListTransactionsResponse>
    {
        let request = ListTransactionsRequest(
            stateFilters: r.stateFilters, producerIdFilters: r.producerIdFilters.map(\.rawValue),
            durationFilterMs: version >= 1 ? r.durationFilter : -1)
        return txns.submitToAll(.listTransactions(request)).map { outcomes in
            var response = KafkaWire.ListTransactionsResponse()
            var unknown: Set<String>?
            for outcome in outcomes {
                switch outcome {
                case .error(let code): response.errorCode = code.rawValue
                case .response(.listTransactions(let l)):
                    if l.errorCode != .none { response.errorCode = l.errorCode.rawValue }
                    unknown = (unknown ?? Set(l.unknownStateFilters)).intersection(l.unknownStateFilters)
                    response.transactionStates += l.transactionStates.map {
                        .init(
                            transactionalId: $0.transactionalId, producerId: ProducerId($0.producerId),
                            transactionState: $0.state)
                    }
                case .response: response.errorCode = KafkaErrorCode.unknownServerError.rawValue
                }
            }
            if outcomes.isEmpty {
                // No coordinator here: the filters are still checked against Kafka's state names.
                unknown = Set(r.stateFilters.filter { SkeinTransactions.TransactionState(name: $0) == nil })
            }
            response.unknownStateFilters = (unknown ?? []).sorted()
            return response
        }
    }

    /// DescribeProducers: the producer state of partitions this node leads.
    func describeProducers(_ r: KafkaWire.DescribeProducersRequest) -> KafkaWire.DescribeProducersResponse {
        var response = KafkaWire.DescribeProducersResponse()
        for topic in r.topics {
            var t = KafkaWire.DescribeProducersResponse.TopicResponse(name: topic.name)
            for p in topic.partitionIndexes {
                var result = KafkaWire.DescribeProducersResponse.PartitionResponse(partitionIndex: p)
                switch servePartition(name: topic.name, id: nil, partition: p) {
                case .error(let code):
                    result.errorCode = code.rawValue
                case .local(let log, _, _):
                    do {
                        result.activeProducers = try log.producerStates().map { id, entry in
                            .init(
                                producerId: ProducerId(id), producerEpoch: Int32(entry.producerEpoch),
                                lastSequence: entry.lastSequence, lastTimestamp: entry.lastTimestamp,
                                coordinatorEpoch: entry.coordinatorEpoch,
                                currentTxnStartOffset: entry.currentTxnFirstOffset ?? -1)
                        }
                    } catch {
                        let (code, message) = Self.kafkaError(error)
                        result.errorCode = code.rawValue
                        result.errorMessage = message
                    }
                }
                t.partitions.append(result)
            }
            response.topics.append(t)
        }
        return response
    }

    // MARK: markers

    /// Writes one marker of `markers` to partition `tp`: here when this node leads it, else at its leader over
    /// RPC. `.none` when written (committed), or when the topic no longer exists (Kafka skips partitions
    /// without a leader in its metadata, as they are deleted); a retriable error otherwise.
    func writeTxnMarker(_ tp: TxnTopicPartition, _ markers: TxnMarkers) -> EventLoopFuture<KafkaErrorCode> {
        let loop = txns.loop
        guard let cluster else {
            return loop.makeSucceededFuture(appendMarkerLocally(tp, markers))
        }
        guard let topic = cluster.controller.metadata.topics[tp.topic], tp.partition < topic.partitionCount else {
            return loop.makeSucceededFuture(.none)
        }
        let group = GroupId(topic: tp.topic, partition: tp.partition)
        guard let leader = leaderOf(group)?.leader, leader != .none else {
            return loop.makeSucceededFuture(.notLeaderOrFollower)
        }
        if leader == config.nodeId {
            return appendMarkerInCluster(tp, markers, cluster: cluster).hop(to: loop)
        }
        guard let peerRequest = cluster.peerRequest else { return loop.makeSucceededFuture(.notLeaderOrFollower) }
        let request = KafkaWire.WriteTxnMarkersRequest(markers: [
            .init(
                producerId: ProducerId(markers.producerId), producerEpoch: markers.producerEpoch,
                transactionResult: markers.commit, topics: [.init(name: tp.topic, partitionIndexes: [tp.partition])],
                coordinatorEpoch: markers.coordinatorEpoch)
        ])
        let promise = loop.makePromise(of: KafkaErrorCode.self)
        promise.completeWithTask {
            do {
                let payload = try request.encoded(version: 1)
                let answer = try await peerRequest(leader, Self.writeTxnMarkersKind, payload, .seconds(10))
                let response = try KafkaWire.WriteTxnMarkersResponse.decodeWhole(answer, version: 1)
                let code = response.markers.first?.topics.first?.partitions.first?.errorCode
                return code.flatMap { KafkaErrorCode(rawValue: $0) } ?? .unknownServerError
            } catch {
                return .notLeaderOrFollower
            }
        }
        return promise.futureResult
    }

    /// WriteTxnMarkers from a coordinator on another node: each marker appended at this node, which must lead
    /// the partition.
    func handleWriteTxnMarkers(_ payload: ByteBuffer) async throws -> ByteBuffer {
        let request = try KafkaWire.WriteTxnMarkersRequest.decodeWhole(payload, version: 1)
        var response = KafkaWire.WriteTxnMarkersResponse()
        for m in request.markers {
            var result = KafkaWire.WriteTxnMarkersResponse.WritableTxnMarkerResult(producerId: m.producerId)
            for topic in m.topics {
                var topicResult = KafkaWire.WriteTxnMarkersResponse.WritableTxnMarkerTopicResult(name: topic.name)
                for p in topic.partitionIndexes {
                    let tp = TxnTopicPartition(topic.name, p)
                    let markers = TxnMarkers(
                        transactionalId: "", producerId: m.producerId.rawValue, producerEpoch: m.producerEpoch,
                        commit: m.transactionResult, partitions: [tp], coordinatorEpoch: m.coordinatorEpoch)
                    let code: KafkaErrorCode
                    if let cluster {
                        code = try await appendMarkerInCluster(tp, markers, cluster: cluster).get()
                    } else {
                        code = appendMarkerLocally(tp, markers)
                    }
                    topicResult.partitions.append(.init(partitionIndex: p, errorCode: code.rawValue))
                }
                result.topics.append(topicResult)
            }
            response.markers.append(result)
        }
        return try response.encoded(version: 1)
    }

    private func markerBatch(_ markers: TxnMarkers) throws -> ByteBuffer {
        try RecordBatchBuilder.transactionMarker(
            commit: markers.commit, producerId: ProducerId(markers.producerId), producerEpoch: markers.producerEpoch,
            coordinatorEpoch: markers.coordinatorEpoch, timestamp: clock.nowMillis)
    }

    /// One node: the marker goes straight into the local log.
    private func appendMarkerLocally(_ tp: TxnTopicPartition, _ markers: TxnMarkers) -> KafkaErrorCode {
        guard let log = topics.topic(named: tp.topic)?.partition(tp.partition) else { return .none }
        do {
            _ = try log.appendMany(
                [try markerBatch(markers)], leaderEpoch: Self.leaderEpoch,
                origin: .marker(transactionVersion: Self.markerTransactionVersion))
        } catch {
            return Self.kafkaError(error).code
        }
        markerWritten(tp, markers)
        fetchWaiters.notifyAppended()
        return .none
    }

    /// Cluster mode: the marker is appended at this node, the partition's leader, and committed (acks=all).
    private func appendMarkerInCluster(_ tp: TxnTopicPartition, _ markers: TxnMarkers, cluster: ClusterContext)
        -> EventLoopFuture<KafkaErrorCode>
    {
        let group = GroupId(topic: tp.topic, partition: tp.partition)
        let batch: ByteBuffer
        do { batch = try markerBatch(markers) } catch {
            return cluster.engine.loop.makeSucceededFuture(.unknownServerError)
        }
        return cluster.engine.append(
            group, batches: [batch], waitForCommit: true,
            origin: .marker(transactionVersion: Self.markerTransactionVersion)
        ).map { _ in
            self.markerWritten(tp, markers)
            return KafkaErrorCode.none
        }.recover { error in
            switch error {
            case ReplicationError.rejected(let code, _): return code
            case ReplicationError.unknownGroup:
                // The topic is gone from this node (deleted): nothing to mark.
                return cluster.controller.metadata.topics[tp.topic] == nil ? .none : .notLeaderOrFollower
            case ReplicationError.storage: return .kafkaStorageError
            default: return .notLeaderOrFollower
            }
        }
    }

    /// A marker landed: a `__consumer_offsets` partition's coordinator settles the producer's pending offsets.
    private func markerWritten(_ tp: TxnTopicPartition, _ markers: TxnMarkers) {
        if tp.topic == consumerOffsetsTopic {
            groups.completeTransaction(
                partition: tp.partition, producerId: markers.producerId, committed: markers.commit)
        }
    }
}

/// The KIP-890 verdict for one partition of a transactional Produce: refused with `error`, or appended with
/// `verificationGuard` set when the coordinator confirmed the partition is in the transaction (nil when the
/// partition already had the producer's transaction ongoing, so that no confirmation was needed).
struct ProduceVerification: Sendable {
    var error: KafkaErrorCode?
    var verificationGuard: UInt64?

    /// The producer-state origin of the partition's batches.
    var origin: BatchOrigin { .client(verified: verificationGuard != nil) }
}

extension Broker {
    /// Runs `body` with the verdicts of the partitions of a transactional Produce whose batch would start a
    /// transaction in its partition: the transaction coordinator must confirm that the partition was added to
    /// the producer's transaction (KIP-890 part 1, Kafka's transaction.partition.verification.enable), so that a
    /// late or stray batch cannot open a transaction that no marker will ever end (a hanging transaction).
    func withTransactionVerification(
        _ request: ProduceRequest, version: Int16, eventLoop: any EventLoop,
        _ body: @escaping @Sendable ([TxnTopicPartition: ProduceVerification]) -> EventLoopFuture<HandlerResult>
    ) -> EventLoopFuture<HandlerResult> {
        let batches = transactionalBatches(request)
        guard request.transactionalId != nil, let producerId = batches.first?.producerId else {
            return verifyThenProduce(request, batches, version: version, eventLoop: eventLoop, body)
        }
        // A producer pipelines its batches (up to 5 requests in flight). One that starts the transaction in a
        // partition waits for the coordinator's verification; the next one, arriving meanwhile, would need one too
        // and could be verified first, and be appended before it: out of order. So while a request of a producer
        // waits for a verification, the producer's later requests here wait behind it, and go in arrival order.
        let needs = batches.contains {
            (try? $0.log.needsVerification(producerId: $0.producerId, producerEpoch: $0.epoch))?.needed ?? true
        }
        let done = eventLoop.makePromise(of: Void.self)
        let previous: EventLoopFuture<Void>?? = txnProduceOrder.withLockedValue { chains in
            let last = chains[producerId]
            guard last != nil || needs else { return .none }
            chains[producerId] = done.futureResult
            return .some(last)
        }
        guard case .some(let before) = previous else {
            done.succeed(())
            return verifyThenProduce(request, batches, version: version, eventLoop: eventLoop, body)
        }
        let result = (before?.hop(to: eventLoop) ?? eventLoop.makeSucceededVoidFuture()).flatMap {
            // Leaderships may have moved while this request waited: look again.
            self.verifyThenProduce(
                request, self.transactionalBatches(request), version: version, eventLoop: eventLoop, body)
        }
        result.whenComplete { _ in
            self.txnProduceOrder.withLockedValue { chains in
                if chains[producerId] === done.futureResult { chains[producerId] = nil }
            }
            done.succeed(())
        }
        return result
    }

    /// A transactional batch of a produce request, at a partition this node leads.
    struct TransactionalBatch: Sendable {
        let tp: TxnTopicPartition
        let producerId: Int64
        let epoch: Int16
        let log: PartitionLog
    }

    /// The request's transactional batches at partitions led here (each batch's header read once).
    private func transactionalBatches(_ request: ProduceRequest) -> [TransactionalBatch] {
        var out: [TransactionalBatch] = []
        for topicData in request.topicData {
            for partitionData in topicData.partitionData {
                let tp = TxnTopicPartition(topicData.name, partitionData.index)
                guard let records = partitionData.records, let view = try? RecordBatchView(bytes: records),
                    view.header.attributes.isTransactional, let log = leaderLog(tp)
                else { continue }
                out.append(
                    TransactionalBatch(
                        tp: tp, producerId: view.header.producerId.rawValue, epoch: view.header.producerEpoch,
                        log: log))
            }
        }
        return out
    }

    private func verifyThenProduce(
        _ request: ProduceRequest, _ batches: [TransactionalBatch], version: Int16, eventLoop: any EventLoop,
        _ body: @escaping @Sendable ([TxnTopicPartition: ProduceVerification]) -> EventLoopFuture<HandlerResult>
    ) -> EventLoopFuture<HandlerResult> {
        guard let transactionalId = request.transactionalId else { return body([:]) }
        var checks: [EventLoopFuture<(TxnTopicPartition, ProduceVerification)>] = []
        for batch in batches {
            let (tp, producerId, epoch, log) = (batch.tp, batch.producerId, batch.epoch, batch.log)
            let needed: (needed: Bool, guard: UInt64)
            do { needed = try log.needsVerification(producerId: producerId, producerEpoch: epoch) } catch {
                checks.append(eventLoop.makeSucceededFuture((tp, ProduceVerification(error: .kafkaStorageError))))
                continue
            }
            guard needed.needed else {
                checks.append(eventLoop.makeSucceededFuture((tp, ProduceVerification())))
                continue
            }
            let token = needed.guard
            checks.append(
                verifyInTransaction(transactionalId, producerId: producerId, epoch: epoch, tp).map { code in
                    switch code {
                    case .none: return (tp, ProduceVerification(verificationGuard: token))
                    case .producerFenced:
                        // As Kafka's AddPartitionsToTxnManager: a produce answers a fenced producer with
                        // INVALID_PRODUCER_EPOCH, the error clients' produce path knows (fatal for them).
                        return (tp, ProduceVerification(error: .invalidProducerEpoch))
                    case .transactionAbortable:
                        return (tp, ProduceVerification(error: version >= 11 ? code : .invalidTxnState))
                    case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress,
                        .concurrentTransactions:
                        // Kafka answers these retriably: the producer retries the batch.
                        return (tp, ProduceVerification(error: .notEnoughReplicas))
                    default: return (tp, ProduceVerification(error: code))
                    }
                })
        }
        guard !checks.isEmpty else { return body([:]) }
        return EventLoopFuture.whenAllSucceed(checks, on: eventLoop).flatMap {
            body(Dictionary($0, uniquingKeysWith: { first, _ in first }))
        }
    }

    /// This node's log of a partition it leads (any partition on one node).
    private func leaderLog(_ tp: TxnTopicPartition) -> PartitionLog? {
        guard let cluster else { return topics.topic(named: tp.topic)?.partition(tp.partition) }
        let group = GroupId(topic: tp.topic, partition: tp.partition)
        guard cluster.engine.status(of: group)?.role == .leader else { return nil }
        return cluster.replicas.log(for: group)
    }

    /// Asks the transactional id's coordinator (here or on its node) whether `tp` is in the producer's ongoing
    /// transaction at this epoch (AddPartitionsToTxn v4 with verifyOnly).
    func verifyInTransaction(_ transactionalId: String, producerId: Int64, epoch: Int16, _ tp: TxnTopicPartition)
        -> EventLoopFuture<KafkaErrorCode>
    {
        let loop = txns.loop
        guard let p = transactionPartition(transactionalId) else {
            return loop.makeSucceededFuture(.coordinatorNotAvailable)
        }
        let request = KafkaWire.AddPartitionsToTxnRequest(transactions: [
            .init(
                transactionalId: transactionalId, producerId: ProducerId(producerId), producerEpoch: epoch,
                verifyOnly: true, topics: [.init(name: tp.topic, partitions: [tp.partition])])
        ])
        @Sendable func code(of response: KafkaWire.AddPartitionsToTxnResponse) -> KafkaErrorCode {
            if response.errorCode != 0 { return KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError }
            let partition = response.resultsByTransaction.first?.topicResults.first?.resultsByPartition.first
            return partition.flatMap { KafkaErrorCode(rawValue: $0.partitionErrorCode) } ?? .unknownServerError
        }
        if let cluster {
            guard let leader = leaderOf(GroupId(topic: transactionStateTopic, partition: p))?.leader,
                leader != .none
            else { return loop.makeSucceededFuture(.coordinatorNotAvailable) }
            if leader != config.nodeId {
                guard let peerRequest = cluster.peerRequest else {
                    return loop.makeSucceededFuture(.coordinatorNotAvailable)
                }
                let promise = loop.makePromise(of: KafkaErrorCode.self)
                promise.completeWithTask {
                    do {
                        let answer = try await peerRequest(
                            leader, Self.verifyTxnKind, try request.encoded(version: 4), .seconds(10))
                        return code(of: try KafkaWire.AddPartitionsToTxnResponse.decodeWhole(answer, version: 4))
                    } catch {
                        return .coordinatorNotAvailable
                    }
                }
                return promise.futureResult
            }
        }
        return addPartitionsToTxn(request, version: 4).map(code(of:))
    }

    /// A verification from a partition leader on another node (AddPartitionsToTxn v4).
    func handleVerifyTxn(_ payload: ByteBuffer) async throws -> ByteBuffer {
        let request = try KafkaWire.AddPartitionsToTxnRequest.decodeWhole(payload, version: 4)
        return try await addPartitionsToTxn(request, version: 4).get().encoded(version: 4)
    }
}
