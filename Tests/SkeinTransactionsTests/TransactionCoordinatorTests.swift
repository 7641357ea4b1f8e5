import SkeinModel
import SkeinTransactions
import Testing

@Suite("Transaction coordinator: Kafka's request paths")
struct TransactionCoordinatorTests {
    // MARK: InitProducerId

    @Test("a new transactional id gets a producer id at epoch 0; the Empty record is persisted before the response")
    func initNew() {
        let d = TxnDriver()
        let r = d.initPid("tx")
        #expect(r == InitProducerIdResponse(errorCode: .none, producerId: 1000, producerEpoch: 0))
        guard case .persist(let records)? = d.lastDirectives.first, case .respond? = d.lastDirectives.last else {
            Issue.record("expected persist then respond, got \(d.lastDirectives)")
            return
        }
        #expect(records.first?.value?.state == .empty)
        #expect(records.first?.value?.startTimestampMs == -1)
        // Every init bumps the epoch and keeps the producer id.
        #expect(d.initPid("tx") == InitProducerIdResponse(errorCode: .none, producerId: 1000, producerEpoch: 1))
        // The old epoch is fenced.
        #expect(d.addCode("tx", 1000, 0, [tp0]) == .producerFenced)
        #expect(d.addCode("tx", 1000, 0, [tp0], version: 1) == .invalidProducerEpoch)
        #expect(d.addCode("tx", 1000, 1, [tp0]) == KafkaErrorCode.none)
        #expect(d.replayMatches())
    }

    @Test("invalid requests: timeout out of range, empty id, half a producer id pair")
    func initValidation() {
        let d = TxnDriver()
        #expect(d.initPid("tx", timeout: 0)?.errorCode == .invalidTransactionTimeout)
        #expect(d.initPid("tx", timeout: 900_001)?.errorCode == .invalidTransactionTimeout)
        #expect(d.initPid("tx", timeout: 900_000)?.errorCode == KafkaErrorCode.none)
        #expect(d.initPid("")?.errorCode == .invalidRequest)
        #expect(d.initPid("tx", pid: 1000, epoch: -1)?.errorCode == .invalidRequest)
        #expect(d.initPid("tx", pid: -1, epoch: 0)?.errorCode == .invalidRequest)
    }

    @Test("producer ids come from blocks; without one the answer is COORDINATOR_LOAD_IN_PROGRESS and a block is asked")
    func producerIdBlocks() {
        let d = TxnDriver(giveBlock: false)
        d.answerBlockRequests = false
        #expect(d.initPid("tx")?.errorCode == .coordinatorLoadInProgress)
        #expect(d.lastDirectives.contains(.requestProducerIdBlock))
        #expect(d.initPid(nil)?.errorCode == .coordinatorLoadInProgress)
        #expect(!d.lastDirectives.contains(.requestProducerIdBlock), "asked once until a block arrives")
        #expect(d.coordinator.transaction("tx") == nil)
        d.blockSize = 10
        d.giveProducerIds()
        // Idempotent producers get fresh ids at epoch 0 and nothing is persisted.
        #expect(d.initPid(nil) == InitProducerIdResponse(errorCode: .none, producerId: 1000, producerEpoch: 0))
        #expect(d.records.isEmpty)
        for i in 0..<7 { #expect(d.initPid("tx\(i)")?.producerId == 1001 + Int64(i)) }
        #expect(d.blockRequests == 1)
        // 90% used: the next block is prefetched.
        _ = d.initPid("tx8")
        #expect(d.blockRequests == 2)
        #expect(d.coordinator.availableProducerIds == 1)
    }

    @Test("InitProducerId during an open transaction fences it: PrepareAbort, CONCURRENT_TRANSACTIONS, markers")
    func initFencesOngoing() {
        for level: Int16 in [0, 2] {
            var config = TransactionCoordinatorConfig()
            config.transactionVersionLevel = level
            let d = TxnDriver(config: config)
            _ = d.initPid("tx")
            #expect(d.addCode("tx", 1000, 0, [tp0, up0]) == KafkaErrorCode.none)
            #expect(d.initPid("tx")?.errorCode == .concurrentTransactions)
            guard d.lastDirectives.count == 3, case .persist(let records) = d.lastDirectives[0],
                case .respond = d.lastDirectives[1], case .writeMarkers(let m) = d.lastDirectives[2]
            else {
                Issue.record("expected persist, respond, writeMarkers: \(d.lastDirectives)")
                return
            }
            let fenceEpoch: Int16 = level >= 2 ? 2 : 1
            #expect(records.map { $0.value?.state } == [.prepareAbort])
            #expect(
                m
                    == TxnMarkers(
                        transactionalId: "tx", producerId: 1000, producerEpoch: fenceEpoch, commit: false,
                        partitions: [tp0, up0], coordinatorEpoch: 3))
            // The client retries while the abort completes.
            #expect(d.initPid("tx")?.errorCode == .concurrentTransactions)
            #expect(d.end("tx", 1000, 0, commit: true)?.errorCode == .producerFenced)
            d.writeAllMarkers()
            #expect(d.state("tx") == .completeAbort)
            #expect(
                d.initPid("tx")
                    == InitProducerIdResponse(errorCode: .none, producerId: 1000, producerEpoch: fenceEpoch + 1))
            #expect(d.replayMatches())
        }
    }

    @Test("KIP-360: a producer recovers with its own pair; a retried bump answers the same epoch; others are fenced")
    func initRecovery() {
        let d = TxnDriver()
        _ = d.initPid("tx")
        #expect(
            d.initPid("tx", pid: 1000, epoch: 0)
                == InitProducerIdResponse(errorCode: .none, producerId: 1000, producerEpoch: 1))
        // The response was lost: the retry carries epoch 0 again and gets epoch 1 without another bump.
        #expect(d.initPid("tx", pid: 1000, epoch: 0)?.producerEpoch == 1)
        #expect(d.initPid("tx", pid: 1000, epoch: 1)?.producerEpoch == 2)
        #expect(d.initPid("tx", pid: 1000, epoch: 0)?.errorCode == .producerFenced)
        #expect(d.initPid("tx", pid: 1000, epoch: 0, version: 3)?.errorCode == .invalidProducerEpoch)
        #expect(d.initPid("tx", pid: 999, epoch: 2)?.errorCode == .producerFenced)
        // A new producer (no pair) always wins and leaves no retry window for the old epoch.
        #expect(d.initPid("tx")?.producerEpoch == 3)
        #expect(d.initPid("tx", pid: 1000, epoch: 2)?.errorCode == .producerFenced)
    }

    @Test("epoch exhaustion takes a new producer id; a retry naming the old pair gets the new one")
    func epochExhaustion() {
        let d = TxnDriver()
        d.records = [
            TxnRecord(
                transactionalId: "tx",
                value: TransactionLogValue(
                    producerId: 7, producerEpoch: Int16.max - 1, transactionTimeoutMs: 60_000, state: .completeCommit,
                    lastUpdateTimestampMs: 1))
        ]
        d.crashAndReplay()
        d.giveProducerIds()
        let rotated = d.initPid("tx", pid: 7, epoch: Int16.max - 1)
        #expect(rotated?.errorCode == KafkaErrorCode.none)
        let newId = rotated?.producerId ?? -1
        #expect(newId != 7 && rotated?.producerEpoch == 0)
        #expect(d.coordinator.transaction("tx")?.previousProducerId == 7)
        #expect(d.initPid("tx", pid: 7, epoch: Int16.max - 1) == rotated)
        #expect(d.replayMatches())
    }

    // MARK: AddPartitionsToTxn / AddOffsetsToTxn

    @Test("AddPartitionsToTxn errors, idempotent re-add, start time and persisted partition set")
    func addPartitions() {
        let d = TxnDriver()
        #expect(d.addCode("tx", 1000, 0, [tp0]) == .invalidProducerIdMapping)
        #expect(d.addCode("", 1000, 0, [tp0]) == .invalidRequest)
        _ = d.initPid("tx")
        #expect(d.addCode("tx", 1001, 0, [tp0]) == .invalidProducerIdMapping)
        #expect(d.addCode("tx", 1000, 1, [tp0]) == .producerFenced)
        d.now = 5_000
        #expect(d.addCode("tx", 1000, 0, [tp0]) == KafkaErrorCode.none)
        #expect(d.coordinator.transaction("tx")?.startTimestampMs == 5_000)
        let recordCount = d.records.count
        d.now = 6_000
        #expect(d.addCode("tx", 1000, 0, [tp0]) == KafkaErrorCode.none)
        #expect(d.records.count == recordCount, "re-adding a partition writes nothing")
        #expect(d.addCode("tx", 1000, 0, [tp1, tp0]) == KafkaErrorCode.none)
        #expect(d.coordinator.transaction("tx")?.partitions == [tp0, tp1])
        #expect(d.coordinator.transaction("tx")?.startTimestampMs == 5_000)
        #expect(d.end("tx", 1000, 0, commit: true)?.errorCode == KafkaErrorCode.none)
        #expect(d.addCode("tx", 1000, 0, [up0]) == .concurrentTransactions)
        d.writeAllMarkers()
        // A new transaction starts from CompleteCommit with a new start time.
        d.now = 9_000
        #expect(d.addCode("tx", 1000, 0, [up0]) == KafkaErrorCode.none)
        #expect(d.coordinator.transaction("tx")?.partitions == [up0])
        #expect(d.coordinator.transaction("tx")?.startTimestampMs == 9_000)
        #expect(d.replayMatches())
    }

    @Test("KIP-890 verification answers per partition and changes nothing")
    func verifyOnly() {
        let d = TxnDriver()
        _ = d.initPid("tx")
        #expect(d.add("tx", 1000, 0, [tp0], verifyOnly: true, version: 4)?.errors == [tp0: .transactionAbortable])
        _ = d.addCode("tx", 1000, 0, [tp0])
        let records = d.records.count
        #expect(
            d.add("tx", 1000, 0, [tp0, tp1], verifyOnly: true, version: 4)?.errors
                == [tp0: KafkaErrorCode.none, tp1: .transactionAbortable])
        #expect(d.records.count == records)
        #expect(d.add("tx", 1000, 1, [tp0], verifyOnly: true, version: 4)?.commonError == .producerFenced)
        #expect(d.add("tx", 999, 0, [tp0], verifyOnly: true, version: 4)?.commonError == .invalidProducerIdMapping)
        #expect(d.add("nope", 1000, 0, [tp0], verifyOnly: true, version: 4)?.commonError == .invalidProducerIdMapping)
        _ = d.end("tx", 1000, 0, commit: false)
        #expect(d.add("tx", 1000, 0, [tp0], verifyOnly: true, version: 4)?.commonError == .concurrentTransactions)
    }

    @Test("AddOffsetsToTxn adds the group's __consumer_offsets partition")
    func addOffsets() {
        var config = TransactionCoordinatorConfig()
        config.offsetsTopicPartitionCount = 50
        let d = TxnDriver(config: config)
        _ = d.initPid("tx")
        #expect(d.addOffsets("tx", 1000, 0, group: "my-group") == KafkaErrorCode.none)
        #expect(d.coordinator.transaction("tx")?.partitions == [TxnTopicPartition("__consumer_offsets", 12)])
        #expect(d.addOffsets("tx", 1000, 1, group: "g") == .producerFenced)
        #expect(d.addOffsets("tx", 1000, 1, group: "g", version: 1) == .invalidProducerEpoch)
    }

    // MARK: EndTxn

    @Test("EndTxn v0-4: answered once Prepare is durable, then markers; retries by state; Complete after markers")
    func endTxnVersion1() {
        let d = TxnDriver()
        _ = d.initPid("tx")
        #expect(d.end("tx", 1000, 0, commit: true)?.errorCode == .invalidTxnState, "nothing to end in Empty")
        _ = d.addCode("tx", 1000, 0, [tp0, tp1])
        #expect(d.end("tx", 1000, 0, commit: true) == EndTxnResponse(errorCode: .none))
        guard d.lastDirectives.count == 3, case .persist(let records) = d.lastDirectives[0],
            case .respond = d.lastDirectives[1], case .writeMarkers(let m) = d.lastDirectives[2]
        else {
            Issue.record("expected persist, respond, writeMarkers: \(d.lastDirectives)")
            return
        }
        #expect(records.first?.value?.state == .prepareCommit)
        #expect(m.commit && m.producerEpoch == 0 && m.partitions == [tp0, tp1])
        #expect(d.end("tx", 1000, 0, commit: true)?.errorCode == .concurrentTransactions)
        #expect(d.end("tx", 1000, 0, commit: false)?.errorCode == .invalidTxnState)
        #expect(d.end("tx", 1000, 1, commit: true)?.errorCode == .producerFenced)
        #expect(d.end("tx", 1000, 1, commit: true, version: 1)?.errorCode == .invalidProducerEpoch)
        #expect(d.end("tx", 999, 0, commit: true)?.errorCode == .invalidProducerIdMapping)
        #expect(d.end("nope", 999, 0, commit: true)?.errorCode == .invalidProducerIdMapping)
        // A stale report (wrong outcome) is ignored.
        var wrong = m
        wrong.commit = false
        d.process(d.coordinator.markersWritten(wrong, now: d.now))
        #expect(d.state("tx") == .prepareCommit)
        d.writeAllMarkers()
        #expect(d.state("tx") == .completeCommit)
        #expect(d.coordinator.transaction("tx")?.partitions == [])
        #expect(d.end("tx", 1000, 0, commit: true) == EndTxnResponse(errorCode: .none))
        #expect(d.end("tx", 1000, 0, commit: false)?.errorCode == .invalidTxnState)
        // A duplicate report after completion changes nothing.
        let count = d.records.count
        d.process(d.coordinator.markersWritten(m, now: d.now))
        #expect(d.records.count == count)
        #expect(d.replayMatches())
    }

    @Test("EndTxn v5+ (KIP-890 part 2) bumps the epoch at every end and returns it; retries carry the old epoch")
    func endTxnVersion2() {
        let d = TxnDriver()
        _ = d.initPid("tx")
        _ = d.addCode("tx", 1000, 0, [tp0])
        #expect(
            d.end("tx", 1000, 0, commit: true, version: 5)
                == EndTxnResponse(errorCode: .none, producerId: 1000, producerEpoch: 1))
        #expect(d.markers.last?.producerEpoch == 1, "markers carry the bumped epoch")
        #expect(d.end("tx", 1000, 0, commit: true, version: 5)?.errorCode == .concurrentTransactions)
        #expect(d.end("tx", 1000, 0, commit: false, version: 5)?.errorCode == .invalidTxnState)
        #expect(d.end("tx", 1000, 1, commit: true, version: 5)?.errorCode == .producerFenced)
        d.writeAllMarkers()
        #expect(d.state("tx") == .completeCommit)
        #expect(
            d.end("tx", 1000, 0, commit: true, version: 5)
                == EndTxnResponse(errorCode: .none, producerId: 1000, producerEpoch: 1))
        #expect(d.end("tx", 1000, 1, commit: true, version: 5)?.errorCode == .invalidTxnState)
        // The old epoch can no longer add partitions.
        #expect(d.addCode("tx", 1000, 0, [tp0]) == .producerFenced)
        // An abort without partitions (current epoch) bumps and completes at once.
        #expect(
            d.end("tx", 1000, 1, commit: false, version: 5)
                == EndTxnResponse(errorCode: .none, producerId: 1000, producerEpoch: 2))
        #expect(d.state("tx") == .completeAbort)
        #expect(d.markers.isEmpty)
        #expect(d.replayMatches())
    }

    @Test("a version 2 retry is only recognised after a version 2 end: a fenced v5 zombie stays fenced")
    func endTxnVersion2ZombieAfterVersion1End() {
        let d = TxnDriver()
        _ = d.initPid("tx")  // the zombie holds epoch 0
        _ = d.initPid("tx")  // a new instance holds epoch 1
        _ = d.addCode("tx", 1000, 1, [tp0])
        #expect(d.end("tx", 1000, 1, commit: true, version: 4)?.errorCode == KafkaErrorCode.none)
        d.writeAllMarkers()
        // Epoch 1 = 0 + 1 looks like a bump after the zombie's EndTxn, but that end was a version 1 one.
        #expect(d.end("tx", 1000, 0, commit: true, version: 5)?.errorCode == .producerFenced)
        #expect(d.end("tx", 1000, 0, commit: false, version: 5)?.errorCode == .producerFenced)
    }

    @Test("a fence at an epoch near Int16.max bumps once and accepts no retry of the fenced epoch")
    func fenceNearEpochLimit() {
        let d = TxnDriver()
        d.records = [
            TxnRecord(
                transactionalId: "tx",
                value: TransactionLogValue(
                    producerId: 7, producerEpoch: Int16.max - 1, transactionTimeoutMs: 60_000, state: .ongoing,
                    partitions: [tp0], lastUpdateTimestampMs: 1, startTimestampMs: 1, clientTransactionVersion: 2))
        ]
        d.crashAndReplay()
        d.giveProducerIds()
        #expect(d.initPid("tx")?.errorCode == .concurrentTransactions)
        #expect(d.epoch("tx") == Int16.max)
        d.writeAllMarkers()
        #expect(d.end("tx", 7, Int16.max - 1, commit: false, version: 5)?.errorCode == .producerFenced)
        #expect(d.addCode("tx", 7, Int16.max - 1, [tp0]) == .producerFenced)
        let r = d.initPid("tx")
        #expect(r?.errorCode == KafkaErrorCode.none && r?.producerId != 7 && r?.producerEpoch == 0)
    }

    @Test("EndTxn v5+ at an exhausted epoch moves to a new producer id at completion")
    func endTxnOverflow() {
        let d = TxnDriver()
        d.records = [
            TxnRecord(
                transactionalId: "tx",
                value: TransactionLogValue(
                    producerId: 7, producerEpoch: Int16.max - 1, transactionTimeoutMs: 60_000, state: .ongoing,
                    partitions: [tp0], lastUpdateTimestampMs: 1, startTimestampMs: 1, clientTransactionVersion: 2))
        ]
        d.crashAndReplay()
        d.giveProducerIds()
        let r = d.end("tx", 7, Int16.max - 1, commit: true, version: 5)
        #expect(r?.errorCode == KafkaErrorCode.none && r?.producerEpoch == 0)
        let newId = r?.producerId ?? -1
        #expect(newId != 7)
        #expect(d.markers.last?.producerId == 7 && d.markers.last?.producerEpoch == Int16.max)
        #expect(d.replayMatches(), "the next producer id is persisted (tagged field) so a failover keeps it")
        d.writeAllMarkers()
        #expect(d.coordinator.transaction("tx")?.producerId == newId)
        #expect(d.coordinator.transaction("tx")?.previousProducerId == 7)
        // A retry with the old identity is recognised.
        #expect(
            d.end("tx", 7, Int16.max - 1, commit: true, version: 5)
                == EndTxnResponse(errorCode: .none, producerId: newId, producerEpoch: 0))
        #expect(d.addCode("tx", newId, 0, [tp0]) == KafkaErrorCode.none)
        #expect(d.addCode("tx", 7, Int16.max, [tp0]) == .invalidProducerIdMapping)
    }

    // MARK: timers

    @Test("transactions open longer than their timeout are aborted with a fencing epoch at the cleanup interval")
    func timeoutAbort() {
        let d = TxnDriver()
        _ = d.initPid("tx", timeout: 15_000)
        _ = d.addCode("tx", 1000, 0, [tp0])
        d.advance(15_000)
        #expect(d.state("tx") == .ongoing, "checked every 10 s: start + timeout < now")
        d.advance(10_000)
        #expect(d.state("tx") == .prepareAbort)
        #expect(d.epoch("tx") == 2, "fence epoch + transaction version 2 bump")
        #expect(d.markers.count == 1)
        #expect(d.end("tx", 1000, 0, commit: true)?.errorCode == .producerFenced)
        #expect(d.end("tx", 1000, 0, commit: false, version: 5)?.errorCode == .producerFenced)
        #expect(d.addCode("tx", 1000, 0, [tp0]) == .producerFenced)
        d.writeAllMarkers()
        #expect(d.state("tx") == .completeAbort)
        #expect(d.end("tx", 1000, 0, commit: false, version: 5)?.errorCode == .producerFenced)
        #expect(d.end("tx", 1000, 0, commit: false)?.errorCode == .producerFenced)
        #expect(d.replayMatches())
    }

    @Test("idle transactional ids expire with a tombstone; open ones do not")
    func expiration() {
        var config = TransactionCoordinatorConfig()
        config.transactionalIdExpirationMs = 7_200_000
        config.transactionMaxTimeoutMs = 100_000_000
        let d = TxnDriver(config: config)
        _ = d.initPid("idle")
        _ = d.initPid("open", timeout: 100_000_000)
        _ = d.addCode("open", 1001, 0, [tp0])
        d.advance(7_199_999)
        #expect(d.state("idle") == .empty, "checked hourly")
        d.advance(3_600_000)
        #expect(d.state("idle") == nil)
        #expect(d.records.last == TxnRecord(transactionalId: "idle", value: nil))
        #expect(d.state("open") == .ongoing)
        #expect(d.replayMatches())
        // An expired id starts over; a KIP-360 pair for it is accepted as the id was just created.
        let r = d.initPid("idle", pid: 1000, epoch: 0)
        #expect(r?.errorCode == KafkaErrorCode.none && r?.producerId != 1000 && r?.producerEpoch == 0)
    }

    @Test("after a failover, Prepare states write their markers again and complete")
    func replayResumesMarkers() {
        let d = TxnDriver()
        _ = d.initPid("a")
        _ = d.initPid("b")
        _ = d.addCode("a", 1000, 0, [tp0])
        _ = d.addCode("b", 1001, 0, [tp1])
        _ = d.end("a", 1000, 0, commit: true)
        _ = d.end("b", 1001, 0, commit: false)
        let before = d.coordinator.snapshot()
        d.crashAndReplay()
        #expect(d.coordinator.snapshot() == before)
        #expect(d.markers.map(\.transactionalId) == ["a", "b"])
        #expect(d.markers.map(\.commit) == [true, false])
        #expect(d.markers.allSatisfy { $0.coordinatorEpoch == 4 })
        #expect(d.end("a", 1000, 0, commit: true)?.errorCode == .concurrentTransactions)
        d.writeAllMarkers()
        #expect(d.state("a") == .completeCommit && d.state("b") == .completeAbort)
        #expect(d.replayMatches())
    }

    // MARK: admin

    @Test("DescribeTransactions and ListTransactions with Kafka's filters")
    func describeAndList() {
        let d = TxnDriver()
        _ = d.initPid("a")
        _ = d.initPid("b", timeout: 30_000)
        d.now = 2_000
        _ = d.addCode("b", 1001, 0, [up0, tp1, tp0])
        d.now = 10_000
        let id = d.send(.describeTransactions(DescribeTransactionsRequest(transactionalIds: ["b", "zz", ""])))
        guard case .describeTransactions(let described)? = d.responses[id] else {
            Issue.record("no describe response")
            return
        }
        #expect(described.transactionStates.map(\.errorCode) == [.none, .transactionalIdNotFound, .invalidRequest])
        let b = described.transactionStates[0]
        #expect(b.state == "Ongoing" && b.producerId == 1001 && b.transactionTimeoutMs == 30_000)
        #expect(b.transactionStartTimeMs == 2_000)
        #expect(
            b.topics == [
                TxnTopicPartitions(topic: "t", partitions: [0, 1]), TxnTopicPartitions(topic: "u", partitions: [0]),
            ])

        func list(_ request: ListTransactionsRequest) -> ListTransactionsResponse? {
            let id = d.send(.listTransactions(request))
            if case .listTransactions(let r)? = d.responses[id] { return r }
            return nil
        }
        #expect(list(ListTransactionsRequest())?.transactionStates.map(\.transactionalId) == ["a", "b"])
        let filtered = list(ListTransactionsRequest(stateFilters: ["Ongoing", "Bogus"]))
        #expect(
            filtered?.transactionStates == [ListedTransaction(transactionalId: "b", producerId: 1001, state: "Ongoing")]
        )
        #expect(filtered?.unknownStateFilters == ["Bogus"])
        #expect(
            list(ListTransactionsRequest(producerIdFilters: [1000]))?.transactionStates.map(\.transactionalId) == ["a"])
        // Duration: only transactions running longer than the filter; Empty (start -1) counts as long-running.
        #expect(
            list(ListTransactionsRequest(durationFilterMs: 8_000))?.transactionStates.map(\.transactionalId) == ["a"])
        #expect(
            list(ListTransactionsRequest(durationFilterMs: 7_999))?.transactionStates.map(\.transactionalId) == [
                "a", "b",
            ])
    }
}
