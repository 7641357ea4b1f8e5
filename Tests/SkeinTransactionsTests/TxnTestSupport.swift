import SkeinModel
import SkeinTransactions

/// Drives a transaction coordinator in tests: numbers requests, keeps time, collects responses, persisted records
/// (through their bytes, as the log would hold them) and requested markers; hands out producer id blocks.
final class TxnDriver {
    var coordinator: TransactionCoordinator
    let config: TransactionCoordinatorConfig
    var now: Int64 = 1_000
    private var nextId: TxnRequestID = 1
    private var nextProducerId: Int64 = 1000
    var blockSize: Int64 = 100
    /// When false, `.requestProducerIdBlock` is not answered.
    var answerBlockRequests = true
    var blockRequests = 0
    var records: [TxnRecord] = []
    var responses: [TxnRequestID: TxnResponse] = [:]
    var markers: [TxnMarkers] = []
    var lastDirectives: [TxnDirective] = []

    init(config: TransactionCoordinatorConfig = TransactionCoordinatorConfig(), giveBlock: Bool = true) {
        self.config = config
        coordinator = TransactionCoordinator(config: config, coordinatorEpoch: 3)
        if giveBlock { giveProducerIds() }
    }

    func giveProducerIds() {
        let first = nextProducerId
        nextProducerId += blockSize
        process(coordinator.addProducerIdBlock(firstProducerId: first, count: blockSize, now: now))
    }

    @discardableResult
    func send(_ request: TxnRequest) -> TxnRequestID {
        let id = nextId
        nextId += 1
        process(coordinator.handle(request, id: id, now: now))
        return id
    }

    func process(_ directives: [TxnDirective]) {
        lastDirectives = directives
        var blockWanted = false
        for directive in directives {
            switch directive {
            case .persist(let batch):
                for record in batch {
                    let decoded = try? TxnRecord.decode(key: record.keyBytes(), value: record.valueBytes())
                    precondition(decoded == record, "record does not round-trip: \(record)")
                    records.append(record)
                }
            case .respond(let id, let response):
                precondition(responses[id] == nil, "request \(id) answered twice")
                responses[id] = response
            case .writeMarkers(let m): markers.append(m)
            case .requestProducerIdBlock:
                blockRequests += 1
                blockWanted = true
            }
        }
        if blockWanted && answerBlockRequests { giveProducerIds() }
    }

    /// Moves time forward by `ms`, ticking at every deadline on the way.
    func advance(_ ms: Int64) {
        let target = now + ms
        while let next = coordinator.nextDeadline, next <= target {
            now = max(now, next)
            process(coordinator.tick(now: now))
        }
        now = target
    }

    /// Reports every requested marker set as written, oldest first.
    func writeAllMarkers() {
        let pending = markers
        markers = []
        for m in pending { process(coordinator.markersWritten(m, now: now)) }
    }

    func crashAndReplay() {
        coordinator = TransactionCoordinator.replay(records, config: config, coordinatorEpoch: 4, now: now)
        markers = []
        process(coordinator.resumeAfterLoad(now: now))
    }

    // MARK: request helpers

    func initPid(_ txnId: String?, timeout: Int32 = 60_000, pid: Int64 = -1, epoch: Int16 = -1, version: Int16 = 5)
        -> InitProducerIdResponse?
    {
        let id = send(
            .initProducerId(
                InitProducerIdRequest(
                    transactionalId: txnId, transactionTimeoutMs: timeout, producerId: pid, producerEpoch: epoch,
                    apiVersion: version)))
        if case .initProducerId(let r)? = responses[id] { return r }
        return nil
    }

    func add(
        _ txnId: String, _ pid: Int64, _ epoch: Int16, _ partitions: [TxnTopicPartition], verifyOnly: Bool = false,
        version: Int16 = 3
    ) -> AddPartitionsToTxnResponse? {
        let id = send(
            .addPartitionsToTxn(
                AddPartitionsToTxnRequest(
                    transactionalId: txnId, producerId: pid, producerEpoch: epoch, partitions: partitions,
                    verifyOnly: verifyOnly, apiVersion: version)))
        if case .addPartitionsToTxn(let r)? = responses[id] { return r }
        return nil
    }

    func addCode(_ txnId: String, _ pid: Int64, _ epoch: Int16, _ partitions: [TxnTopicPartition], version: Int16 = 3)
        -> KafkaErrorCode?
    {
        add(txnId, pid, epoch, partitions, version: version)?.commonError
    }

    func addOffsets(_ txnId: String, _ pid: Int64, _ epoch: Int16, group: String, version: Int16 = 3) -> KafkaErrorCode?
    {
        let id = send(
            .addOffsetsToTxn(
                AddOffsetsToTxnRequest(
                    transactionalId: txnId, producerId: pid, producerEpoch: epoch, groupId: group, apiVersion: version))
        )
        if case .addOffsetsToTxn(let code)? = responses[id] { return code }
        return nil
    }

    func end(_ txnId: String, _ pid: Int64, _ epoch: Int16, commit: Bool, version: Int16 = 4) -> EndTxnResponse? {
        let id = send(
            .endTxn(
                EndTxnRequest(
                    transactionalId: txnId, producerId: pid, producerEpoch: epoch, commit: commit, apiVersion: version))
        )
        if case .endTxn(let r)? = responses[id] { return r }
        return nil
    }

    func state(_ txnId: String) -> TransactionState? { coordinator.transaction(txnId)?.state }
    func epoch(_ txnId: String) -> Int16? { coordinator.transaction(txnId)?.producerEpoch }

    func replayMatches() -> Bool {
        TransactionCoordinator.replay(records, config: config, now: now).snapshot() == coordinator.snapshot()
    }
}

let tp0 = TxnTopicPartition("t", 0)
let tp1 = TxnTopicPartition("t", 1)
let up0 = TxnTopicPartition("u", 0)

extension SeededRandom {
    mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) / 1_000_000 < p }
    mutating func between(_ low: Int64, _ high: Int64) -> Int64 { low + Int64(next() % UInt64(high - low + 1)) }
    mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
}
