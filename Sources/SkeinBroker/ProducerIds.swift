import KafkaWire
import SkeinModel
import SkeinReplication
import SkeinStorage

/// Hands out producer ids from blocks reserved durably beforehand (a single node: its `producer-ids` file; a
/// cluster: the controller's replicated counter), so that no id is ever handed out twice. Ids of a block left
/// unused when the node stops are skipped, as in Kafka.
actor ProducerIdPool {
    static let blockSize: Int64 = 1000
    private var next: Int64 = 0
    private var end: Int64 = 0
    private let reserveBlock: @Sendable () async throws -> Range<Int64>

    init(reserveBlock: @escaping @Sendable () async throws -> Range<Int64>) {
        self.reserveBlock = reserveBlock
    }

    func nextId() async throws -> Int64 {
        while next >= end {
            let block = try await reserveBlock()
            // Another caller may have refilled the pool while this one waited: keep its block then.
            if next >= end { (next, end) = (block.lowerBound, block.upperBound) }
        }
        defer { next += 1 }
        return next
    }
}

struct ProducerIdError: Error, CustomStringConvertible {
    var description: String
}

extension Broker {
    /// How this node reserves producer id blocks.
    static func producerIdSource(dataDirectory: String, cluster: ClusterContext?)
        -> @Sendable () async throws -> Range<Int64>
    {
        if let cluster {
            return {
                let size = ProducerIdPool.blockSize
                let produced = try await cluster.controller.submit(.allocateProducerIds(count: size))
                guard let first = Int64(produced) else {
                    throw ProducerIdError(description: "the controller answered \"\(produced)\" for a block")
                }
                return first..<(first + size)
            }
        }
        return { try ProducerIdBlocks.reserve(count: ProducerIdPool.blockSize, directory: dataDirectory) }
    }

    /// InitProducerId for idempotent producers (no transactional id): a new producer id at epoch 0, as Kafka's
    /// ProducerIdManager gives even to a producer asking to bump its epoch (KIP-360 lets it start over with a new
    /// id). Transactional ids need the transaction coordinator, which is not served yet: NOT_COORDINATOR, and
    /// FindCoordinator is not advertised, so clients report that transactions are unsupported.
    func handleInitProducerId(_ request: InitProducerIdRequest) async -> InitProducerIdResponse {
        var response = InitProducerIdResponse()
        response.producerId = .none
        response.producerEpoch = -1
        if request.transactionalId != nil {
            response.errorCode = KafkaErrorCode.notCoordinator.rawValue
            return response
        }
        do {
            response.producerId = ProducerId(try await producerIds.nextId())
            response.producerEpoch = 0
        } catch {
            logger.warning("cannot reserve producer ids", metadata: ["error": "\(error)"])
            // Retriable for the client: the controller (or the disk) may be back soon.
            response.errorCode = KafkaErrorCode.coordinatorLoadInProgress.rawValue
        }
        return response
    }
}
