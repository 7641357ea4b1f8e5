import SkeinModel

// DescribeTransactions, ListTransactions, and loading from the log.
extension TransactionCoordinator {
    // MARK: DescribeTransactions / ListTransactions

    func describe(_ request: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
        var states: [DescribedTransaction] = []
        for transactionalId in request.transactionalIds {
            var described = DescribedTransaction(
                errorCode: .none, transactionalId: transactionalId, state: "", transactionTimeoutMs: 0,
                transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [])
            if transactionalId.isEmpty {
                described.errorCode = .invalidRequest
            } else if let value = entries[transactionalId]?.value {
                described.state = value.state.name
                described.transactionTimeoutMs = value.transactionTimeoutMs
                described.transactionStartTimeMs = value.startTimestampMs
                described.producerId = value.producerId
                described.producerEpoch = value.producerEpoch
                described.topics = value.partitionsByTopic.map {
                    TxnTopicPartitions(topic: $0.topic, partitions: $0.partitions)
                }
            } else {
                described.errorCode = .transactionalIdNotFound
            }
            states.append(described)
        }
        return DescribeTransactionsResponse(transactionStates: states)
    }

    func list(_ request: ListTransactionsRequest) -> ListTransactionsResponse {
        var unknown: [String] = []
        var states = Set<TransactionState>()
        for name in request.stateFilters {
            if let state = TransactionState(name: name) {
                states.insert(state)
            } else if !unknown.contains(name) {
                unknown.append(name)
            }
        }
        let producerIds = Set(request.producerIdFilters)
        var listed: [ListedTransaction] = []
        for transactionalId in entries.keys.sorted() {
            guard let value = entries[transactionalId]?.value else { continue }
            if !producerIds.isEmpty && !producerIds.contains(value.producerId) { continue }
            if !request.stateFilters.isEmpty && !states.contains(value.state) { continue }
            // Kafka's test, including its quirk: a transaction without a start time (-1) counts as running long.
            if request.durationFilterMs >= 0 && now - value.startTimestampMs <= request.durationFilterMs { continue }
            listed.append(
                ListedTransaction(
                    transactionalId: transactionalId, producerId: value.producerId, state: value.state.name))
        }
        return ListTransactionsResponse(errorCode: .none, unknownStateFilters: unknown, transactionStates: listed)
    }

    // MARK: loading

    /// Rebuilds a coordinator from the records of its `__transaction_state` partition, in log order (what a new
    /// leader does). Call `resumeAfterLoad(now:)` next: transactions in PrepareCommit/PrepareAbort need their
    /// markers written again. Producer id blocks are not in the log: the coordinator starts without one.
    public static func replay(
        _ records: [TxnRecord], config: TransactionCoordinatorConfig = TransactionCoordinatorConfig(),
        coordinatorEpoch: Int32 = 0, now: Int64
    ) -> TransactionCoordinator {
        var loader = TransactionStateLoader()
        loader.apply(records)
        return loader.build(config: config, coordinatorEpoch: coordinatorEpoch, now: now)
    }
}

/// Reads a `__transaction_state` partition record by record (as a loading coordinator or a follower does) and
/// builds a coordinator from what it has read so far. The latest record of a transactional id wins; a tombstone
/// removes it.
public struct TransactionStateLoader: Sendable {
    private var values: [String: TransactionLogValue] = [:]

    public init() {}

    /// Applies records in log order.
    public mutating func apply(_ records: [TxnRecord]) {
        for record in records { apply(record) }
    }

    /// Applies one record.
    public mutating func apply(_ record: TxnRecord) {
        values[record.transactionalId] = record.value?.normalized
    }

    /// The metadata read so far, as `TransactionCoordinator.snapshot()` returns it.
    public func snapshot() -> [String: TransactionLogValue] { values }

    /// A coordinator holding the transactional ids read so far.
    public func build(
        config: TransactionCoordinatorConfig = TransactionCoordinatorConfig(), coordinatorEpoch: Int32 = 0, now: Int64
    ) -> TransactionCoordinator {
        let coordinator = TransactionCoordinator(config: config, coordinatorEpoch: coordinatorEpoch)
        coordinator.advance(to: now)
        coordinator.entries = values.mapValues { TxnEntry(value: $0) }
        return coordinator
    }
}
