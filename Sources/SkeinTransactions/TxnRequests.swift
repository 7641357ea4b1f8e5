import SkeinModel

/// Opaque id of a request, chosen by the shell; a response names the request it answers. (Named apart from
/// SkeinGroups' `RequestID` so that a module importing both sees no ambiguity; both are `UInt64`.)
public typealias TxnRequestID = UInt64

/// InitProducerId (api key 22). `producerId`/`producerEpoch` are -1/-1, or (v3+, KIP-360) the pair the producer
/// holds when it recovers. A nil `transactionalId` is an idempotent producer: it gets a fresh producer id.
public struct InitProducerIdRequest: Hashable, Sendable {
    public var transactionalId: String?
    public var transactionTimeoutMs: Int32
    public var producerId: Int64
    public var producerEpoch: Int16
    /// v0-3 answer INVALID_PRODUCER_EPOCH where v4+ answer PRODUCER_FENCED.
    public var apiVersion: Int16

    public init(
        transactionalId: String?, transactionTimeoutMs: Int32, producerId: Int64 = -1, producerEpoch: Int16 = -1,
        apiVersion: Int16 = 5
    ) {
        self.transactionalId = transactionalId
        self.transactionTimeoutMs = transactionTimeoutMs
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.apiVersion = apiVersion
    }
}

/// InitProducerId response; -1/-1 with an error.
public struct InitProducerIdResponse: Hashable, Sendable {
    public var errorCode: KafkaErrorCode
    public var producerId: Int64
    public var producerEpoch: Int16

    public init(errorCode: KafkaErrorCode, producerId: Int64 = -1, producerEpoch: Int16 = -1) {
        self.errorCode = errorCode
        self.producerId = producerId
        self.producerEpoch = producerEpoch
    }
}

/// One transaction of AddPartitionsToTxn (api key 24): the single transaction of v0-3 (from a client) or one of
/// the batch of v4+ (from a partition leader). `verifyOnly` (v4+, KIP-890) asks whether the partitions are in the
/// ongoing transaction without adding them.
public struct AddPartitionsToTxnRequest: Hashable, Sendable {
    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var partitions: [TxnTopicPartition]
    public var verifyOnly: Bool
    /// v0-1 answer INVALID_PRODUCER_EPOCH where v2+ answer PRODUCER_FENCED.
    public var apiVersion: Int16

    public init(
        transactionalId: String, producerId: Int64, producerEpoch: Int16, partitions: [TxnTopicPartition],
        verifyOnly: Bool = false, apiVersion: Int16 = 3
    ) {
        self.transactionalId = transactionalId
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.partitions = partitions
        self.verifyOnly = verifyOnly
        self.apiVersion = apiVersion
    }
}

/// AddPartitionsToTxn result for one transaction: an error per partition (Kafka gives every partition the same
/// error when the coordinator refuses; a verification answers NONE or TRANSACTION_ABORTABLE per partition).
public struct AddPartitionsToTxnResponse: Hashable, Sendable {
    public var errors: [TxnTopicPartition: KafkaErrorCode]

    public init(errors: [TxnTopicPartition: KafkaErrorCode]) { self.errors = errors }

    /// The error when all partitions share one, else nil.
    public var commonError: KafkaErrorCode? {
        let codes = Set(errors.values)
        return codes.count == 1 ? codes.first : nil
    }
}

/// AddOffsetsToTxn (api key 25): adds the group's `__consumer_offsets` partition to the transaction.
public struct AddOffsetsToTxnRequest: Hashable, Sendable {
    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var groupId: String
    /// v0-1 answer INVALID_PRODUCER_EPOCH where v2+ answer PRODUCER_FENCED.
    public var apiVersion: Int16

    public init(
        transactionalId: String, producerId: Int64, producerEpoch: Int16, groupId: String, apiVersion: Int16 = 3
    ) {
        self.transactionalId = transactionalId
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.groupId = groupId
        self.apiVersion = apiVersion
    }
}

/// EndTxn (api key 26). v5+ is transaction version 2 (KIP-890 part 2): every completed transaction bumps the epoch
/// and the response carries the producer id and epoch to use next.
public struct EndTxnRequest: Hashable, Sendable {
    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var commit: Bool
    /// v0-1 answer INVALID_PRODUCER_EPOCH where v2+ answer PRODUCER_FENCED; v5+ means transaction version 2.
    public var apiVersion: Int16

    public init(transactionalId: String, producerId: Int64, producerEpoch: Int16, commit: Bool, apiVersion: Int16 = 4) {
        self.transactionalId = transactionalId
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.commit = commit
        self.apiVersion = apiVersion
    }
}

/// EndTxn response. `producerId`/`producerEpoch` are set (v5+) only for a transaction version 2 success.
public struct EndTxnResponse: Hashable, Sendable {
    public var errorCode: KafkaErrorCode
    public var producerId: Int64
    public var producerEpoch: Int16

    public init(errorCode: KafkaErrorCode, producerId: Int64 = -1, producerEpoch: Int16 = -1) {
        self.errorCode = errorCode
        self.producerId = producerId
        self.producerEpoch = producerEpoch
    }
}

/// DescribeTransactions (api key 65).
public struct DescribeTransactionsRequest: Hashable, Sendable {
    public var transactionalIds: [String]
    public init(transactionalIds: [String]) { self.transactionalIds = transactionalIds }
}

/// One transactional id as DescribeTransactions reports it.
public struct DescribedTransaction: Hashable, Sendable {
    public var errorCode: KafkaErrorCode
    public var transactionalId: String
    /// Kafka's state name ("" with an error).
    public var state: String
    public var transactionTimeoutMs: Int32
    public var transactionStartTimeMs: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    /// Partitions by topic, sorted.
    public var topics: [TxnTopicPartitions]

    public init(
        errorCode: KafkaErrorCode, transactionalId: String, state: String, transactionTimeoutMs: Int32,
        transactionStartTimeMs: Int64, producerId: Int64, producerEpoch: Int16, topics: [TxnTopicPartitions]
    ) {
        self.errorCode = errorCode
        self.transactionalId = transactionalId
        self.state = state
        self.transactionTimeoutMs = transactionTimeoutMs
        self.transactionStartTimeMs = transactionStartTimeMs
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.topics = topics
    }
}

/// A topic with some of its partitions.
public struct TxnTopicPartitions: Hashable, Sendable {
    public var topic: String
    public var partitions: [Int32]
    public init(topic: String, partitions: [Int32]) {
        self.topic = topic
        self.partitions = partitions
    }
}

/// DescribeTransactions response, one entry per requested id in request order.
public struct DescribeTransactionsResponse: Hashable, Sendable {
    public var transactionStates: [DescribedTransaction]
    public init(transactionStates: [DescribedTransaction]) { self.transactionStates = transactionStates }
}

/// ListTransactions (api key 66). Empty filters match everything; `durationFilterMs` < 0 (v0) disables the
/// duration filter, else only transactions running longer than it are listed.
public struct ListTransactionsRequest: Hashable, Sendable {
    public var stateFilters: [String]
    public var producerIdFilters: [Int64]
    public var durationFilterMs: Int64

    public init(stateFilters: [String] = [], producerIdFilters: [Int64] = [], durationFilterMs: Int64 = -1) {
        self.stateFilters = stateFilters
        self.producerIdFilters = producerIdFilters
        self.durationFilterMs = durationFilterMs
    }
}

/// One listed transaction.
public struct ListedTransaction: Hashable, Sendable {
    public var transactionalId: String
    public var producerId: Int64
    public var state: String

    public init(transactionalId: String, producerId: Int64, state: String) {
        self.transactionalId = transactionalId
        self.producerId = producerId
        self.state = state
    }
}

/// ListTransactions response: transactions sorted by id; state filters Kafka does not know are echoed.
public struct ListTransactionsResponse: Hashable, Sendable {
    public var errorCode: KafkaErrorCode
    public var unknownStateFilters: [String]
    public var transactionStates: [ListedTransaction]

    public init(errorCode: KafkaErrorCode, unknownStateFilters: [String], transactionStates: [ListedTransaction]) {
        self.errorCode = errorCode
        self.unknownStateFilters = unknownStateFilters
        self.transactionStates = transactionStates
    }
}

/// Every request the coordinator handles.
public enum TxnRequest: Hashable, Sendable {
    case initProducerId(InitProducerIdRequest)
    case addPartitionsToTxn(AddPartitionsToTxnRequest)
    case addOffsetsToTxn(AddOffsetsToTxnRequest)
    case endTxn(EndTxnRequest)
    case describeTransactions(DescribeTransactionsRequest)
    case listTransactions(ListTransactionsRequest)
}

/// Every response the coordinator produces.
public enum TxnResponse: Hashable, Sendable {
    case initProducerId(InitProducerIdResponse)
    case addPartitionsToTxn(AddPartitionsToTxnResponse)
    /// AddOffsetsToTxn's single error code.
    case addOffsetsToTxn(KafkaErrorCode)
    case endTxn(EndTxnResponse)
    case describeTransactions(DescribeTransactionsResponse)
    case listTransactions(ListTransactionsResponse)
}

/// The markers one transaction needs: a COMMIT or ABORT control batch with this producer id and epoch in every
/// partition, stamped with the coordinator epoch (partitions reject markers of an older coordinator epoch).
public struct TxnMarkers: Hashable, Sendable {
    public var transactionalId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var commit: Bool
    public var partitions: [TxnTopicPartition]
    public var coordinatorEpoch: Int32

    public init(
        transactionalId: String, producerId: Int64, producerEpoch: Int16, commit: Bool, partitions: [TxnTopicPartition],
        coordinatorEpoch: Int32
    ) {
        self.transactionalId = transactionalId
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.commit = commit
        self.partitions = partitions
        self.coordinatorEpoch = coordinatorEpoch
    }
}

/// What the shell must do, in order.
public enum TxnDirective: Hashable, Sendable {
    /// Append these records to the coordinator's `__transaction_state` partition. They must be durable
    /// (committed) before any directive after them is carried out. If the append fails, the shell must drop the
    /// directives after it and rebuild the coordinator from the log (`TransactionCoordinator.replay`), as Kafka
    /// resigns the partition.
    case persist([TxnRecord])
    /// Send this response to the request `TxnRequestID`.
    case respond(TxnRequestID, TxnResponse)
    /// Write these markers to every partition (retrying until each is written), then call
    /// `markersWritten(_:now:)` with the same value.
    case writeMarkers(TxnMarkers)
    /// The coordinator is running out of producer ids: obtain a block (AllocateProducerIds from the controller)
    /// and hand it over with `addProducerIdBlock(firstProducerId:count:now:)`. Emitted once until a block arrives.
    case requestProducerIdBlock
}
