import SkeinModel

/// One transactional id as the coordinator holds it: the metadata as persisted, plus Kafka's in-memory-only
/// `lastProducerEpoch` (the epoch before the last bump, which lets a producer's retried InitProducerId or EndTxn
/// be recognised; Kafka does not persist it and neither does this coordinator, so it is -1 after a load).
struct TxnEntry: Hashable {
    var value: TransactionLogValue
    var lastProducerEpoch: Int16 = -1
}

/// Kafka's transaction coordinator for one `__transaction_state` partition, as a deterministic state machine.
///
/// Inputs: requests (`handle`), the passage of time (`tick`), the shell's report that a transaction's markers are
/// all written (`markersWritten`) and blocks of producer ids (`addProducerIdBlock`), each with the current time
/// in ms. Outputs: `TxnDirective`s, in order — records to persist (durable before anything after them), responses,
/// markers to write, requests for producer id blocks.
///
/// Every state change is applied when it is decided and persisted in the same output; the shell must make the
/// records durable before carrying out the directives after them, and rebuild the coordinator from the log
/// (`replay`) if an append fails, as Kafka resigns the partition. So Kafka's "pending transition" never shows
/// here: a request that Kafka would race with an in-flight append sees the new state instead.
///
/// Producer ids come in blocks given by the shell (Kafka's `AllocateProducerIds` from the controller, which also
/// keeps them unique across coordinators): the coordinator asks for a block with `.requestProducerIdBlock` when
/// 90% of its ids are used, and answers COORDINATOR_LOAD_IN_PROGRESS (retriable, as Kafka's RPCProducerIdManager
/// does) while it has none. Blocks are not persisted: after a failover the unused rest of a block is lost.
///
/// EndTxn is answered once its PrepareCommit/PrepareAbort record is durable, as Kafka does; the markers follow
/// (`.writeMarkers`), and the Complete record is written when the shell reports them written.
public final class TransactionCoordinator {
    /// The broker settings in force.
    public let config: TransactionCoordinatorConfig
    /// The leader epoch of this `__transaction_state` partition, stamped on markers.
    public let coordinatorEpoch: Int32
    var entries: [String: TxnEntry] = [:]
    /// Unused producer ids: half-open ranges, oldest first.
    var producerIdBlocks: [(next: Int64, end: Int64)] = []
    var lastBlockSize: Int64 = 0
    var producerIdBlockRequested = false
    var nextAbortCheck: Int64?
    var nextExpirationCheck: Int64?
    var now: Int64 = 0
    private var output: [TxnDirective] = []

    /// A coordinator with no transactional ids and no producer ids.
    public init(config: TransactionCoordinatorConfig = TransactionCoordinatorConfig(), coordinatorEpoch: Int32 = 0) {
        self.config = config
        self.coordinatorEpoch = coordinatorEpoch
    }

    // MARK: entry points

    /// Handles one request that arrived at `now` (ms). Every request is answered in this output.
    public func handle(_ request: TxnRequest, id: TxnRequestID, now: Int64) -> [TxnDirective] {
        advance(to: now)
        switch request {
        case .initProducerId(let request): initProducerId(request, id: id)
        case .addPartitionsToTxn(let request): addPartitions(request, id: id)
        case .addOffsetsToTxn(let request): addOffsets(request, id: id)
        case .endTxn(let request): endTxn(request, id: id)
        case .describeTransactions(let request): respond(id, .describeTransactions(describe(request)))
        case .listTransactions(let request): respond(id, .listTransactions(list(request)))
        }
        return finish()
    }

    /// Runs the periodic jobs due at `now`: aborting transactions open longer than their timeout (Kafka's
    /// `transaction-abort`, with a fencing epoch bump) and removing transactional ids idle for
    /// `transactional.id.expiration.ms` (tombstones). Call at `nextDeadline`.
    public func tick(now: Int64) -> [TxnDirective] {
        advance(to: now)
        if let check = nextAbortCheck, check <= self.now {
            nextAbortCheck = self.now + config.abortTimedOutTransactionCleanupIntervalMs
            abortTimedOutTransactions()
        }
        if let check = nextExpirationCheck, check <= self.now {
            nextExpirationCheck = self.now + config.removeExpiredTransactionalIdCleanupIntervalMs
            removeExpiredTransactionalIds()
        }
        return finish()
    }

    /// The shell wrote every marker of `markers` (a value from `.writeMarkers`): the transaction completes
    /// (CompleteCommit/CompleteAbort is persisted). A report that no longer matches the pending transaction (a
    /// duplicate, or one from before a failover that was already completed) is ignored.
    public func markersWritten(_ markers: TxnMarkers, now: Int64) -> [TxnDirective] {
        advance(to: now)
        if let entry = entries[markers.transactionalId], entry.value.state.isPreparing,
            entry.value.producerId == markers.producerId, entry.value.producerEpoch == markers.producerEpoch,
            (entry.value.state == .prepareCommit) == markers.commit
        {
            complete(markers.transactionalId)
        }
        return finish()
    }

    /// A block of producer ids `firstProducerId ..< firstProducerId + count` (from the controller).
    public func addProducerIdBlock(firstProducerId: Int64, count: Int64, now: Int64) -> [TxnDirective] {
        advance(to: now)
        if count > 0 {
            producerIdBlocks.append((firstProducerId, firstProducerId + count))
            lastBlockSize = count
        }
        producerIdBlockRequested = false
        return finish()
    }

    /// Call once after `replay`: the markers of every transaction found in PrepareCommit/PrepareAbort are written
    /// again (Kafka completes such transactions after loading), and those without partitions complete at once.
    public func resumeAfterLoad(now: Int64) -> [TxnDirective] {
        advance(to: now)
        for transactionalId in entries.keys.sorted() where entries[transactionalId]?.value.state.isPreparing == true {
            sendMarkersOrComplete(transactionalId)
        }
        return finish()
    }

    /// The earliest time at which `tick` has something to do.
    public var nextDeadline: Int64? {
        switch (nextAbortCheck, nextExpirationCheck) {
        case (let a?, let b?): return min(a, b)
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (nil, nil): return nil
        }
    }

    /// Producer ids left in the coordinator's blocks.
    public var availableProducerIds: Int64 { producerIdBlocks.reduce(0) { $0 + ($1.end - $1.next) } }

    /// The persisted metadata of every transactional id (what `replay` of the records rebuilds).
    public func snapshot() -> [String: TransactionLogValue] { entries.mapValues(\.value) }

    /// The persisted metadata of one transactional id.
    public func transaction(_ transactionalId: String) -> TransactionLogValue? { entries[transactionalId]?.value }

    // MARK: output

    func advance(to time: Int64) {
        now = max(now, time)
        if nextAbortCheck == nil { nextAbortCheck = now + config.abortTimedOutTransactionCleanupIntervalMs }
        if nextExpirationCheck == nil {
            nextExpirationCheck = now + config.removeExpiredTransactionalIdCleanupIntervalMs
        }
    }

    func respond(_ id: TxnRequestID, _ response: TxnResponse) { output.append(.respond(id, response)) }

    func emit(_ directive: TxnDirective) { output.append(directive) }

    func persist(_ records: [TxnRecord]) {
        guard !records.isEmpty else { return }
        if case .persist(let earlier)? = output.last {
            output[output.count - 1] = .persist(earlier + records)
        } else {
            output.append(.persist(records))
        }
    }

    private func finish() -> [TxnDirective] {
        defer { output = [] }
        return output
    }

    /// Applies and persists new metadata for `transactionalId`. The value is stored as its bytes will decode, so
    /// that the live state always equals what `replay` rebuilds.
    func write(_ transactionalId: String, _ value: TransactionLogValue, lastProducerEpoch: Int16) {
        var stored = value
        stored.version = config.valueVersion
        stored = stored.normalized
        entries[transactionalId] = TxnEntry(value: stored, lastProducerEpoch: lastProducerEpoch)
        persist([TxnRecord(transactionalId: transactionalId, value: stored)])
    }

    /// Removes `transactionalId` and persists its tombstone.
    func remove(_ transactionalId: String) {
        entries[transactionalId] = nil
        persist([TxnRecord(transactionalId: transactionalId, value: nil)])
    }

    // MARK: producer ids

    /// The next producer id, or nil when no block is left (a block is then requested).
    func allocateProducerId() -> Int64? {
        while let first = producerIdBlocks.first, first.next >= first.end { producerIdBlocks.removeFirst() }
        guard !producerIdBlocks.isEmpty else {
            requestProducerIdBlock()
            return nil
        }
        let id = producerIdBlocks[0].next
        producerIdBlocks[0].next += 1
        let threshold = lastBlockSize - Int64((config.producerIdPrefetchRatio * Double(lastBlockSize)).rounded())
        if availableProducerIds <= threshold { requestProducerIdBlock() }
        return id
    }

    private func requestProducerIdBlock() {
        guard !producerIdBlockRequested else { return }
        producerIdBlockRequested = true
        emit(.requestProducerIdBlock)
    }

    // MARK: epochs

    /// Kafka reserves Int16.max for fencing: an epoch of Int16.max - 1 or more is exhausted.
    static func isEpochExhausted(_ epoch: Int16) -> Bool { epoch >= Int16.max - 1 }

    /// Kafka's answer to clients older than PRODUCER_FENCED: INVALID_PRODUCER_EPOCH.
    static func fencedError(_ code: KafkaErrorCode, apiVersion: Int16, firstFencedVersion: Int16) -> KafkaErrorCode {
        code == .producerFenced && apiVersion < firstFencedVersion ? .invalidProducerEpoch : code
    }

    // MARK: InitProducerId

    private func initProducerId(_ request: InitProducerIdRequest, id: TxnRequestID) {
        func fail(_ code: KafkaErrorCode) {
            let mapped = Self.fencedError(code, apiVersion: request.apiVersion, firstFencedVersion: 4)
            respond(id, .initProducerId(InitProducerIdResponse(errorCode: mapped)))
        }
        guard let transactionalId = request.transactionalId else {
            // An idempotent producer: a fresh producer id at epoch 0, nothing persisted.
            guard let producerId = allocateProducerId() else { return fail(.coordinatorLoadInProgress) }
            return respond(
                id, .initProducerId(InitProducerIdResponse(errorCode: .none, producerId: producerId, producerEpoch: 0)))
        }
        guard !transactionalId.isEmpty else { return fail(.invalidRequest) }
        guard request.transactionTimeoutMs > 0, request.transactionTimeoutMs <= config.transactionMaxTimeoutMs else {
            return fail(.invalidTransactionTimeout)
        }
        var expected: (producerId: Int64, epoch: Int16)?
        switch (request.producerId, request.producerEpoch) {
        case (-1, -1): expected = nil
        case (-1, _), (_, -1): return fail(.invalidRequest)
        default: expected = (request.producerId, request.producerEpoch)
        }

        let entry: TxnEntry
        if let existing = entries[transactionalId] {
            entry = existing
        } else {
            guard let producerId = allocateProducerId() else { return fail(.coordinatorLoadInProgress) }
            entry = TxnEntry(
                value: TransactionLogValue(
                    producerId: producerId, producerEpoch: -1, transactionTimeoutMs: request.transactionTimeoutMs,
                    state: .empty, lastUpdateTimestampMs: now))
        }
        let current = entry.value
        if let expected {
            // KIP-360: the producer may go on unless it is fenced: a just-created id, the current producer id (the
            // epoch is checked below), or a retry after a rotation the producer never heard of.
            let valid =
                current.producerEpoch == -1 || expected.producerId == current.producerId
                || (expected.producerId == current.previousProducerId && Self.isEpochExhausted(expected.epoch))
            guard valid else { return fail(.producerFenced) }
        }
        switch current.state {
        case .prepareCommit, .prepareAbort:
            fail(.concurrentTransactions)
        case .ongoing:
            // Abort the open transaction with a fencing epoch the client never sees; it retries and then gets a
            // bumped epoch (or a new producer id if the fence exhausted the epochs).
            guard fenceAndAbort(transactionalId) else { return fail(.concurrentTransactions) }
            let directives = takeMarkerDirectivesAfterPersist()
            respond(id, .initProducerId(InitProducerIdResponse(errorCode: .concurrentTransactions)))
            for directive in directives { emit(directive) }
        case .empty, .completeCommit, .completeAbort, .dead, .prepareEpochFence:
            var next = current
            next.state = .empty
            next.partitions = []
            next.startTimestampMs = -1
            next.nextProducerId = -1
            next.lastUpdateTimestampMs = now
            next.transactionTimeoutMs = request.transactionTimeoutMs
            next.previousProducerId = current.producerId
            var lastEpoch: Int16
            if Self.isEpochExhausted(current.producerEpoch)
                && (expected.map { $0.epoch == current.producerEpoch } ?? true)
            {
                guard let producerId = allocateProducerId() else { return fail(.coordinatorLoadInProgress) }
                next.producerId = producerId
                next.producerEpoch = 0
                lastEpoch = expected == nil ? -1 : current.producerEpoch
            } else if let expected {
                if current.producerEpoch == -1 || expected.epoch == current.producerEpoch {
                    next.producerEpoch = current.producerEpoch + 1
                    lastEpoch = current.producerEpoch
                } else if expected.epoch == entry.lastProducerEpoch {
                    // A retry of a bump this producer asked for: answer the current epoch again.
                    next.producerEpoch = current.producerEpoch
                    lastEpoch = entry.lastProducerEpoch
                } else {
                    return fail(.producerFenced)
                }
            } else {
                guard current.producerEpoch < Int16.max else { return fail(.producerFenced) }
                next.producerEpoch = current.producerEpoch + 1
                lastEpoch = -1
            }
            write(transactionalId, next, lastProducerEpoch: lastEpoch)
            respond(
                id,
                .initProducerId(
                    InitProducerIdResponse(
                        errorCode: .none, producerId: next.producerId, producerEpoch: next.producerEpoch)
                ))
        }
    }

    /// Removes and returns the `.writeMarkers` directives at the end of the output (so that a response can go
    /// between the persisted Prepare record and its markers, as Kafka answers before sending markers).
    func takeMarkerDirectivesAfterPersist() -> [TxnDirective] {
        var taken: [TxnDirective] = []
        while case .writeMarkers? = output.last { taken.insert(output.removeLast(), at: 0) }
        return taken
    }
}
