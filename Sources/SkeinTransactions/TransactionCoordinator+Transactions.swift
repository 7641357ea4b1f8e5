import SkeinModel

// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, markers and aborts.
extension TransactionCoordinator {
    // MARK: AddPartitionsToTxn / AddOffsetsToTxn

    func addPartitions(_ request: AddPartitionsToTxnRequest, id: TxnRequestID) {
        let partitions = Array(Set(request.partitions)).sorted()
        func all(_ code: KafkaErrorCode) -> TxnResponse {
            let mapped = Self.fencedError(code, apiVersion: request.apiVersion, firstFencedVersion: 2)
            return .addPartitionsToTxn(
                AddPartitionsToTxnResponse(errors: Dictionary(uniqueKeysWithValues: partitions.map { ($0, mapped) })))
        }
        if request.verifyOnly {
            respond(id, verify(request, partitions: partitions, all: all))
            return
        }
        let code = add(
            transactionalId: request.transactionalId, producerId: request.producerId,
            producerEpoch: request.producerEpoch, partitions: partitions)
        respond(id, all(code))
    }

    func addOffsets(_ request: AddOffsetsToTxnRequest, id: TxnRequestID) {
        let partition = TxnTopicPartition(
            consumerOffsetsTopic,
            offsetsTopicPartition(for: request.groupId, partitionCount: config.offsetsTopicPartitionCount))
        let code = add(
            transactionalId: request.transactionalId, producerId: request.producerId,
            producerEpoch: request.producerEpoch, partitions: [partition])
        respond(id, .addOffsetsToTxn(Self.fencedError(code, apiVersion: request.apiVersion, firstFencedVersion: 2)))
    }

    /// Kafka's `handleAddPartitionsToTransaction`: adds `partitions` to the transaction (starting it from Empty
    /// or Complete*), persisting the new set; returns the error for every partition.
    private func add(transactionalId: String, producerId: Int64, producerEpoch: Int16, partitions: [TxnTopicPartition])
        -> KafkaErrorCode
    {
        guard !transactionalId.isEmpty else { return .invalidRequest }
        guard let entry = entries[transactionalId] else { return .invalidProducerIdMapping }
        let current = entry.value
        guard current.producerId == producerId else { return .invalidProducerIdMapping }
        guard current.producerEpoch == producerEpoch else { return .producerFenced }
        if current.state.isPreparing { return .concurrentTransactions }
        if current.state == .ongoing && Set(partitions).isSubset(of: current.partitions) { return .none }
        var next = current
        if current.state != .ongoing { next.startTimestampMs = now }
        next.state = .ongoing
        next.partitions = current.partitions + partitions
        next.lastUpdateTimestampMs = now
        write(transactionalId, next, lastProducerEpoch: entry.lastProducerEpoch)
        return .none
    }

    /// Kafka's `handleVerifyPartitionsInTransaction` (KIP-890): NONE for partitions in the transaction,
    /// TRANSACTION_ABORTABLE for the others; nothing changes.
    private func verify(
        _ request: AddPartitionsToTxnRequest, partitions: [TxnTopicPartition], all: (KafkaErrorCode) -> TxnResponse
    ) -> TxnResponse {
        guard !request.transactionalId.isEmpty else { return all(.invalidRequest) }
        guard let current = entries[request.transactionalId]?.value, current.producerId == request.producerId else {
            return all(.invalidProducerIdMapping)
        }
        guard current.producerEpoch == request.producerEpoch else { return all(.producerFenced) }
        if current.state.isPreparing { return all(.concurrentTransactions) }
        let included = Set(current.partitions)
        var errors: [TxnTopicPartition: KafkaErrorCode] = [:]
        for tp in partitions { errors[tp] = included.contains(tp) ? KafkaErrorCode.none : .transactionAbortable }
        return .addPartitionsToTxn(AddPartitionsToTxnResponse(errors: errors))
    }

    // MARK: EndTxn

    func endTxn(_ request: EndTxnRequest, id: TxnRequestID) {
        func fail(_ code: KafkaErrorCode) {
            let mapped = Self.fencedError(code, apiVersion: request.apiVersion, firstFencedVersion: 2)
            respond(id, .endTxn(EndTxnResponse(errorCode: mapped)))
        }
        guard !request.transactionalId.isEmpty else { return fail(.invalidRequest) }
        guard let entry = entries[request.transactionalId] else { return fail(.invalidProducerIdMapping) }
        let current = entry.value
        let epoch = Int32(request.producerEpoch)
        let transactionVersion2 = request.apiVersion >= 5 && config.transactionVersionLevel >= 2

        guard transactionVersion2 else {
            // Transaction version 1: the epoch must be the current one; retries are recognised by state.
            guard current.producerId == request.producerId else { return fail(.invalidProducerIdMapping) }
            guard current.producerEpoch == request.producerEpoch else { return fail(.producerFenced) }
            switch (current.state, request.commit) {
            case (.ongoing, _):
                prepare(request.transactionalId, commit: request.commit, clientVersion: 0, noPartitionAdded: false) {
                    self.respond(id, .endTxn(EndTxnResponse(errorCode: .none)))
                } onError: {
                    fail($0)
                }
            case (.completeCommit, true), (.completeAbort, false):
                respond(id, .endTxn(EndTxnResponse(errorCode: .none)))
            case (.prepareCommit, true), (.prepareAbort, false): fail(.concurrentTransactions)
            default: fail(.invalidTxnState)
            }
            return
        }

        // Transaction version 2 (KIP-890 part 2): every end bumps the epoch, so a retry carries the epoch before
        // the bump. Retries are only recognised after a client's own version 2 end (not after a fence).
        let lastWasVersion2 = current.clientTransactionVersion >= 2
        let retryOnOverflow =
            lastWasVersion2 && current.previousProducerId == request.producerId && epoch == Int32(Int16.max) - 1
            && current.producerEpoch == 0
        let retryOnEpochBump =
            lastWasVersion2 && current.producerId == request.producerId && Int32(current.producerEpoch) == epoch + 1
        let validEpoch: Bool
        switch current.state {
        case .ongoing, .empty, .dead, .prepareEpochFence: validEpoch = epoch == Int32(current.producerEpoch)
        case .prepareCommit, .prepareAbort: validEpoch = retryOnEpochBump
        case .completeCommit, .completeAbort:
            validEpoch = retryOnEpochBump || retryOnOverflow || epoch == Int32(current.producerEpoch)
        }
        guard current.producerId == request.producerId || retryOnOverflow else {
            return fail(.invalidProducerIdMapping)
        }
        guard validEpoch else { return fail(.producerFenced) }
        let isRetry = retryOnEpochBump || retryOnOverflow
        let answerCurrent = {
            self.respond(
                id,
                .endTxn(
                    EndTxnResponse(
                        errorCode: .none, producerId: current.producerId, producerEpoch: current.producerEpoch)))
        }
        let bump = { (commit: Bool, noPartitionAdded: Bool) in
            // Int16.max is reserved for fencing: a client can never legitimately hold it.
            guard current.producerEpoch < Int16.max else { return fail(.producerFenced) }
            self.prepare(
                request.transactionalId, commit: commit, clientVersion: 2, noPartitionAdded: noPartitionAdded
            ) {
                guard let prepared = self.entries[request.transactionalId]?.value else { return }
                // The identity the producer uses next: the new producer id at epoch 0 when the epoch overflowed.
                let producerId = prepared.nextProducerId != -1 ? prepared.nextProducerId : prepared.producerId
                let producerEpoch = prepared.nextProducerId != -1 ? 0 : prepared.producerEpoch
                self.respond(
                    id, .endTxn(EndTxnResponse(errorCode: .none, producerId: producerId, producerEpoch: producerEpoch)))
            } onError: {
                fail($0)
            }
        }
        switch (current.state, request.commit) {
        case (.ongoing, _): bump(request.commit, false)
        case (.completeCommit, true): isRetry ? answerCurrent() : fail(.invalidTxnState)
        case (.completeCommit, false): isRetry ? fail(.invalidTxnState) : bump(false, true)
        case (.completeAbort, false): isRetry ? answerCurrent() : bump(false, true)
        case (.completeAbort, true): fail(.invalidTxnState)
        case (.prepareCommit, true), (.prepareAbort, false): fail(.concurrentTransactions)
        case (.prepareCommit, false), (.prepareAbort, true): fail(.invalidTxnState)
        case (.empty, false): bump(false, true)
        case (.empty, true), (.dead, _), (.prepareEpochFence, _): fail(.invalidTxnState)
        }
    }

    /// Moves the transaction to PrepareCommit/PrepareAbort and persists it; `onPrepared` runs after the persist
    /// (its response follows the durable record), then the markers are requested (or, without partitions, the
    /// transaction completes at once). Transaction version 2 bumps the epoch, taking a new producer id for after
    /// the completion when the epoch is exhausted.
    private func prepare(
        _ transactionalId: String, commit: Bool, clientVersion: Int16, noPartitionAdded: Bool,
        onPrepared: () -> Void, onError: (KafkaErrorCode) -> Void
    ) {
        guard let entry = entries[transactionalId] else { return onError(.invalidProducerIdMapping) }
        let current = entry.value
        var next = current
        var lastEpoch = entry.lastProducerEpoch
        next.state = commit ? .prepareCommit : .prepareAbort
        next.nextProducerId = -1
        if clientVersion >= 2 {
            if Self.isEpochExhausted(current.producerEpoch) {
                guard let producerId = allocateProducerId() else { return onError(.coordinatorLoadInProgress) }
                next.nextProducerId = producerId
            }
            next.producerEpoch = current.producerEpoch + 1
            lastEpoch = current.producerEpoch
        }
        if noPartitionAdded {
            next.partitions = []
            next.startTimestampMs = now
        }
        next.lastUpdateTimestampMs = now
        next.clientTransactionVersion = clientVersion
        write(transactionalId, next, lastProducerEpoch: lastEpoch)
        onPrepared()
        sendMarkersOrComplete(transactionalId)
    }

    /// Asks the shell for the markers of a prepared transaction, or completes it when it has no partition.
    func sendMarkersOrComplete(_ transactionalId: String) {
        guard let value = entries[transactionalId]?.value, value.state.isPreparing else { return }
        if value.partitions.isEmpty {
            complete(transactionalId)
            return
        }
        emit(
            .writeMarkers(
                TxnMarkers(
                    transactionalId: transactionalId, producerId: value.producerId, producerEpoch: value.producerEpoch,
                    commit: value.state == .prepareCommit, partitions: value.partitions,
                    coordinatorEpoch: coordinatorEpoch)))
    }

    /// Kafka's `prepareComplete`: PrepareCommit/PrepareAbort -> CompleteCommit/CompleteAbort, partitions cleared;
    /// after a version 2 end whose epoch overflowed, the transactional id moves to its next producer id at epoch 0.
    func complete(_ transactionalId: String) {
        guard let entry = entries[transactionalId], entry.value.state.isPreparing else { return }
        let current = entry.value
        var next = current
        var lastEpoch = entry.lastProducerEpoch
        next.state = current.state == .prepareCommit ? .completeCommit : .completeAbort
        next.partitions = []
        next.lastUpdateTimestampMs = now
        if current.clientTransactionVersion >= 2 {
            lastEpoch = current.producerEpoch
            next.previousProducerId = current.producerId
            if current.nextProducerId != -1 {
                next.producerId = current.nextProducerId
                next.producerEpoch = 0
            }
        }
        next.nextProducerId = -1
        write(transactionalId, next, lastProducerEpoch: lastEpoch)
    }

    // MARK: fencing and timeouts

    /// Aborts the Ongoing transaction of `transactionalId` with a fencing epoch (Kafka's PrepareEpochFence, which
    /// goes straight to PrepareAbort): epoch + 1, and at `transaction.version` 2 one more bump, as a version 2
    /// abort does — unless that would reach past Int16.max, when the fence bumps once and is recorded as a
    /// version 1 end (so that no retry of the fenced epoch is ever accepted). Returns false if it cannot fence.
    @discardableResult
    func fenceAndAbort(_ transactionalId: String) -> Bool {
        guard let entry = entries[transactionalId], entry.value.state == .ongoing else { return false }
        let current = entry.value
        guard current.producerEpoch < Int16.max else { return false }
        let fenceEpoch = current.producerEpoch + 1
        var next = current
        next.state = .prepareAbort
        next.nextProducerId = -1
        next.lastUpdateTimestampMs = now
        var lastEpoch: Int16 = -1
        if config.transactionVersionLevel >= 2 && fenceEpoch < Int16.max {
            next.producerEpoch = fenceEpoch + 1
            next.clientTransactionVersion = 2
            lastEpoch = fenceEpoch
        } else {
            next.producerEpoch = fenceEpoch
            next.clientTransactionVersion = 0
        }
        write(transactionalId, next, lastProducerEpoch: lastEpoch)
        sendMarkersOrComplete(transactionalId)
        return true
    }

    func abortTimedOutTransactions() {
        for transactionalId in entries.keys.sorted() {
            guard let value = entries[transactionalId]?.value, value.state == .ongoing,
                value.startTimestampMs + Int64(value.transactionTimeoutMs) < now
            else { continue }
            fenceAndAbort(transactionalId)
        }
    }

    func removeExpiredTransactionalIds() {
        for transactionalId in entries.keys.sorted() {
            guard let value = entries[transactionalId]?.value, value.state.isExpirationAllowed,
                value.lastUpdateTimestampMs <= now - config.transactionalIdExpirationMs
            else { continue }
            remove(transactionalId)
        }
    }
}
