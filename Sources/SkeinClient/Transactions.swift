import KafkaWire
import NIOCore
import SkeinModel

/// A transactional id as ListTransactions reports it.
public struct TransactionListing: Sendable, Equatable {
    public var transactionalId: String
    public var producerId: Int64
    public var state: String
    /// The broker that coordinates it.
    public var coordinator: BrokerId
}

/// A transactional id as DescribeTransactions reports it.
public struct TransactionDescription: Sendable, Equatable {
    public var transactionalId: String
    public var coordinator: BrokerId
    public var state: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var timeoutMs: Int32
    /// -1 when no transaction is ongoing.
    public var startTimeMs: Int64
    /// The partitions of the ongoing transaction, by topic.
    public var partitions: [String: [Int32]]
}

/// One producer of a partition as DescribeProducers reports it.
public struct PartitionProducer: Sendable, Equatable {
    public var partition: Int32
    public var producerId: Int64
    public var producerEpoch: Int32
    public var lastSequence: Int32
    public var lastTimestamp: Int64
    public var coordinatorEpoch: Int32
    /// The first offset of its ongoing transaction in the partition, -1 when none.
    public var currentTxnStartOffset: Int64
}

extension KafkaClient {
    /// Every transactional id of every broker (ListTransactions is answered per coordinator), optionally only those
    /// in the given states (Kafka's names: Ongoing, PrepareCommit, ...), sorted by id.
    public func listTransactions(states: [String] = []) async throws -> [TransactionListing] {
        let brokers = try await refreshMetadata(topics: nil).brokers
        var result: [String: TransactionListing] = [:]
        for broker in brokers {
            let conn = try await connection(to: broker.id)
            let request = ListTransactionsRequest(stateFilters: states)
            let response = try await conn.send(request, timeout: requestTimeout.timeAmount).response
            try KafkaError.check(response.errorCode, resource: "broker \(broker.id)")
            if let unknown = response.unknownStateFilters.first {
                throw KafkaError(.invalidRequest, message: "unknown transaction state '\(unknown)'")
            }
            for t in response.transactionStates {
                result[t.transactionalId] = TransactionListing(
                    transactionalId: t.transactionalId, producerId: t.producerId.rawValue, state: t.transactionState,
                    coordinator: broker.id)
            }
        }
        return result.values.sorted { $0.transactionalId < $1.transactionalId }
    }

    /// A transactional id's state at its coordinator (DescribeTransactions).
    public func describeTransaction(_ transactionalId: String) async throws -> TransactionDescription {
        try await withCoordinator(of: transactionalId, keyType: 1) { node, conn in
            let request = DescribeTransactionsRequest(transactionalIds: [transactionalId])
            let response = try await conn.send(request, timeout: requestTimeout.timeAmount).response
            guard let t = response.transactionStates.first else {
                throw KafkaClientError.protocolViolation("DescribeTransactions response is empty")
            }
            try KafkaError.check(t.errorCode, resource: transactionalId)
            var partitions: [String: [Int32]] = [:]
            for topic in t.topics { partitions[topic.topic, default: []] += topic.partitions }
            return TransactionDescription(
                transactionalId: transactionalId, coordinator: node, state: t.transactionState,
                producerId: t.producerId.rawValue, producerEpoch: t.producerEpoch, timeoutMs: t.transactionTimeoutMs,
                startTimeMs: t.transactionStartTimeMs, partitions: partitions.mapValues { $0.sorted() })
        }
    }

    /// The producers of a topic's partitions (DescribeProducers at each partition's leader), by partition.
    public func describeProducers(topic: String) async throws -> [PartitionProducer] {
        let metadata = try await refreshMetadata(topics: [topic])
        guard let info = metadata.topics.first(where: { $0.name == topic }) else {
            throw KafkaError(.unknownTopicOrPartition, resource: topic)
        }
        let byLeader = Dictionary(grouping: info.partitions, by: \.leader)
        var result: [PartitionProducer] = []
        for (leader, partitions) in byLeader {
            let conn = try await connection(to: leader)
            let request = DescribeProducersRequest(topics: [
                .init(name: topic, partitionIndexes: partitions.map(\.partition).sorted())
            ])
            let response = try await conn.send(request, timeout: requestTimeout.timeAmount).response
            for t in response.topics {
                for p in t.partitions {
                    try KafkaError.check(p.errorCode, message: p.errorMessage, resource: "\(topic)-\(p.partitionIndex)")
                    result += p.activeProducers.map {
                        PartitionProducer(
                            partition: p.partitionIndex, producerId: $0.producerId.rawValue,
                            producerEpoch: $0.producerEpoch, lastSequence: $0.lastSequence,
                            lastTimestamp: $0.lastTimestamp, coordinatorEpoch: $0.coordinatorEpoch,
                            currentTxnStartOffset: $0.currentTxnStartOffset)
                    }
                }
            }
        }
        return result.sorted { ($0.partition, $0.producerId) < ($1.partition, $1.producerId) }
    }
}
