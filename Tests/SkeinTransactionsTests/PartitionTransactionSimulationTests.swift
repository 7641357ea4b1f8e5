import SkeinModel
import SkeinTransactions
import Testing

/// Several producers (some on transaction version 2) write transactional and plain batches to one partition, the
/// coordinator writes COMMIT/ABORT markers (also fencing ones after an epoch bump, stale ones, ones of an older
/// coordinator), plain producers write in between, and the high watermark advances. Every arrival goes through the
/// leader's check and, when accepted, is stored and applied. A reference model kept by the generator (which knows
/// what it sends) predicts each verdict, the ongoing transactions, the aborted-transaction entries and the last stable
/// offset; at the end a read_committed reader that filters with the aborted index must see exactly the committed
/// transactional records and the non-transactional records below the LSO, and a rebuild, a snapshot replay and a
/// tail truncation must give the states a rebuild from the log gives.
private struct TxnSimulation {
    struct Producer {
        var epoch: Int16 = 0
        var sequence: Int32 = 0
        var tv2: Bool
        var open = false
    }

    var rng: SeededRandom
    let seed: UInt64
    var state = PartitionTransactionState()
    var log: [StoredBatch] = []
    var next: Int64 = 0
    /// 0 and the end offset of every stored batch: where a high watermark or a truncation may fall.
    var boundaries: [Int64] = [0]
    var producers: [Int64: Producer] = [:]
    var coordinatorEpoch: Int32 = 0
    var highWatermark: Int64 = 0

    // The reference model.
    /// The partition's idea of each producer: epoch and coordinator epoch of its last stored batch or marker.
    var storedEpoch: [Int64: Int16] = [:]
    var storedCoordinatorEpoch: [Int64: Int32] = [:]
    /// The most recent data batch stored per producer (a retry of it is a duplicate while the epoch is unchanged).
    var lastData: [Int64: StoredBatch] = [:]
    var open: [Int64: Int64] = [:]
    /// Offsets of the transactional records of each producer's open transaction.
    var openRecords: [Int64: [Int64]] = [:]
    var committedRecords: Set<Int64> = []
    var completed: [(producerId: Int64, first: Int64, marker: Int64)] = []
    var aborted: [AbortedTransaction] = []

    init(seed: UInt64) {
        self.seed = seed
        rng = SeededRandom(seed: seed)
        for pid in Int64(1)...4 { producers[pid] = Producer(tv2: Bool.random(using: &rng)) }
    }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

    /// Stores an accepted batch at the log end and applies it.
    mutating func store(_ batch: StoredBatch) -> StoredBatch {
        var stored = batch
        stored.lastOffset = next + (batch.lastOffset - batch.baseOffset)
        stored.baseOffset = next
        next = stored.lastOffset + 1
        log.append(stored)
        boundaries.append(next)
        state.apply(stored)
        if stored.producerId >= 0 {
            storedEpoch[stored.producerId] = stored.producerEpoch
            if stored.isControl {
                storedCoordinatorEpoch[stored.producerId] = stored.coordinatorEpoch
            } else {
                lastData[stored.producerId] = stored
            }
        }
        return stored
    }

    func data(_ pid: Int64, epoch: Int16, sequence: Int32, count: Int32, transactional: Bool) -> StoredBatch {
        .data(
            producerId: pid, producerEpoch: epoch, firstSequence: sequence, lastOffsetDelta: count - 1, baseOffset: -1,
            maxTimestamp: 1_000, isTransactional: transactional)
    }

    func marker(_ type: TxnMarkerType, _ pid: Int64, epoch: Int16, coordinator: Int32) -> StoredBatch {
        .marker(
            type, producerId: pid, producerEpoch: epoch, coordinatorEpoch: coordinator, offset: -1, timestamp: 1_000)
    }

    /// A produced data batch: checks the verdict against `expected` and stores it when accepted.
    mutating func produce(_ batch: StoredBatch, verified: Bool, expected: ProducerVerdict) -> StoredBatch? {
        let verdict = state.check(batch, verified: verified)
        switch (verdict, expected) {
        case (.rejected(let code, _), .rejected(let want, _)):
            #expect(code == want, "seed \(seed): \(batch)")
            return nil
        default:
            #expect(verdict == expected, "seed \(seed): \(batch)")
        }
        return verdict == .append ? store(batch) : nil
    }

    /// A marker WriteTxnMarkers asks for: checks the verdict, stores it and updates the model when accepted.
    mutating func writeMarker(_ marker: StoredBatch, transactionVersion: Int16, expected: KafkaErrorCode?) {
        let verdict = state.checkMarker(marker, transactionVersion: transactionVersion)
        if let expected {
            #expect(rejection(verdict) == expected, "seed \(seed): \(marker) TV\(transactionVersion)")
            return
        }
        #expect(verdict == .append, "seed \(seed): \(marker) TV\(transactionVersion)")
        guard verdict == .append else { return }
        let pid = marker.producerId
        let stored = store(marker)
        if let first = open.removeValue(forKey: pid) {
            if stored.markerType == .abort {
                let lso = open.values.min() ?? stored.lastOffset + 1
                aborted.append(
                    AbortedTransaction(
                        producerId: pid, firstOffset: first, lastOffset: stored.lastOffset, lastStableOffset: lso))
            } else {
                committedRecords.formUnion(openRecords[pid, default: []])
            }
            openRecords[pid] = nil
            completed.append((pid, first, stored.lastOffset))
        }
        producers[pid]!.open = false
    }

    mutating func step() {
        let pid = Int64.random(in: 1...4, using: &rng)
        var p = producers[pid]!
        let count = Int32.random(in: 1...3, using: &rng)
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<30:
            // A transactional batch; the first of a transaction needs the coordinator's verification.
            let verified = chance(80)
            let expected: ProducerVerdict =
                p.open || verified ? .append : .rejected(.invalidTxnState, "")
            let batch = data(pid, epoch: p.epoch, sequence: p.sequence, count: count, transactional: true)
            if let stored = produce(batch, verified: verified, expected: expected) {
                producers[pid]!.sequence += count
                if !p.open { open[pid] = stored.baseOffset }
                producers[pid]!.open = true
                openRecords[pid, default: []] += Array(stored.baseOffset...stored.lastOffset)
            }
        case 30..<45:
            // An idempotent, non-transactional batch: refused while the producer's transaction is open.
            let expected: ProducerVerdict = p.open ? .rejected(.invalidTxnState, "") : .append
            let batch = data(pid, epoch: p.epoch, sequence: p.sequence, count: count, transactional: false)
            if produce(batch, verified: chance(50), expected: expected) != nil { producers[pid]!.sequence += count }
        case 45..<60:
            // The end of the producer's transaction (or of an empty one): TV2 bumps the epoch with the marker.
            let type: TxnMarkerType = Bool.random(using: &rng) ? .commit : .abort
            let epoch = p.tv2 ? p.epoch + 1 : p.epoch
            let version: Int16 = p.tv2 ? 2 : Int16.random(in: 0...1, using: &rng)
            writeMarker(
                marker(type, pid, epoch: epoch, coordinator: coordinatorEpoch), transactionVersion: version,
                expected: nil)
            if p.tv2 {
                producers[pid]!.epoch = epoch
                producers[pid]!.sequence = 0
            }
        case 60..<65:
            // InitProducerId: a new epoch; an open transaction is aborted with it (fencing).
            p.epoch += 1
            p.sequence = 0
            producers[pid] = p
            if p.open {
                writeMarker(
                    marker(.abort, pid, epoch: p.epoch, coordinator: coordinatorEpoch),
                    transactionVersion: p.tv2 ? 2 : 0, expected: nil)
            }
        case 65..<72:
            guard let current = storedEpoch[pid] else { return }
            if chance(50) {
                // A late marker of an older epoch.
                guard current > 0 else { return }
                writeMarker(
                    marker(.abort, pid, epoch: current - 1, coordinator: coordinatorEpoch),
                    transactionVersion: Int16.random(in: 0...2, using: &rng), expected: .invalidProducerEpoch)
            } else {
                // TV2, the same epoch: a retry of a marker already written if no transaction is open, else late.
                writeMarker(
                    marker(.commit, pid, epoch: current, coordinator: coordinatorEpoch), transactionVersion: 2,
                    expected: p.open ? .invalidProducerEpoch : nil)
            }
        case 72..<77:
            // A marker from a coordinator older than the one that wrote the producer's last marker.
            guard let last = storedCoordinatorEpoch[pid], last > 0 else { return }
            writeMarker(
                marker(.commit, pid, epoch: p.tv2 ? p.epoch + 1 : p.epoch, coordinator: last - 1),
                transactionVersion: p.tv2 ? 2 : 0, expected: .transactionCoordinatorFenced)
        case 77..<80:
            coordinatorEpoch += 1
        case 80..<85:
            // A zombie of an older epoch.
            guard let current = storedEpoch[pid], current > 0 else { return }
            let batch = data(pid, epoch: current - 1, sequence: 0, count: count, transactional: chance(50))
            _ = produce(batch, verified: chance(50), expected: .rejected(.invalidProducerEpoch, ""))
        case 85..<90:
            // A retry of the producer's last stored batch.
            guard let last = lastData[pid], last.producerEpoch == storedEpoch[pid] else { return }
            var retry = last
            retry.baseOffset = -1
            retry.lastOffset = last.lastOffset - last.baseOffset - 1
            _ = produce(retry, verified: chance(50), expected: .duplicate(last.producerBatch))
        case 90..<96:
            // A plain producer.
            _ = produce(
                data(-1, epoch: -1, sequence: -1, count: count, transactional: false), verified: false,
                expected: .append)
        default:
            highWatermark = boundary(atLeast: highWatermark)
            state.highWatermarkUpdated(highWatermark)
        }
    }

    mutating func boundary(atLeast offset: Int64) -> Int64 {
        boundaries.filter { $0 >= offset }.randomElement(using: &rng)!
    }

    /// The model's LSO: the first offset of the oldest open transaction or of one whose marker is at or above the
    /// high watermark, else the high watermark.
    func modelLastStableOffset(highWatermark hw: Int64) -> Int64 {
        let unstable = Array(open.values) + completed.filter { $0.marker >= hw }.map(\.first)
        return min(unstable.min() ?? hw, hw)
    }

    mutating func checkAgainstModel() {
        #expect(
            state.ongoingTransactions
                == open.map { OngoingTransaction(producerId: $0.key, firstOffset: $0.value) }.sorted {
                    $0.firstOffset < $1.firstOffset
                }, "seed \(seed): ongoing transactions")
        #expect(state.abortedIndex == aborted, "seed \(seed): aborted index")
        #expect(state.endOffset == next, "seed \(seed)")
        let hw = boundary(atLeast: highWatermark)
        for h in [highWatermark, hw] {
            #expect(
                state.lastStableOffset(highWatermark: h) == modelLastStableOffset(highWatermark: h),
                "seed \(seed): LSO at high watermark \(h)")
        }
    }

    /// A read_committed consumer as Kafka's (CompletedFetch): fetches of a few whole batches from `start` below the
    /// LSO, each with the aborted transactions of its range; skips a transactional batch of a producer whose aborted
    /// transaction has begun, until that producer's ABORT marker; never delivers control batches or records before
    /// its position.
    mutating func readCommitted(from start: Int64, lastStableOffset lso: Int64) -> [Int64] {
        var delivered: [Int64] = []
        var position = start
        while position < lso {
            guard var i = log.firstIndex(where: { $0.lastOffset >= position }) else { break }
            var fetched: [StoredBatch] = []
            let batches = Int.random(in: 1...4, using: &rng)
            while i < log.count && fetched.count < batches && log[i].baseOffset < lso {
                fetched.append(log[i])
                i += 1
            }
            guard let upper = fetched.last.map({ $0.lastOffset + 1 }) else { break }
            var pending = state.abortedTransactions(from: position, upTo: upper).sorted {
                $0.firstOffset < $1.firstOffset
            }
            var abortedProducers: Set<Int64> = []
            for batch in fetched {
                while let txn = pending.first, txn.firstOffset <= batch.lastOffset {
                    abortedProducers.insert(txn.producerId)
                    pending.removeFirst()
                }
                if batch.isControl {
                    if batch.markerType == .abort { abortedProducers.remove(batch.producerId) }
                    continue
                }
                if batch.isTransactional && abortedProducers.contains(batch.producerId) { continue }
                delivered += (max(batch.baseOffset, position)...batch.lastOffset).map { $0 }
            }
            position = upper
        }
        return delivered
    }

    /// What read_committed must deliver from `start`: below the LSO, every non-transactional record and the records
    /// of committed transactions.
    func expectedCommitted(from start: Int64, lastStableOffset lso: Int64) -> [Int64] {
        log.filter { !$0.isControl && $0.lastOffset < lso }.flatMap { batch -> [Int64] in
            let offsets = (batch.baseOffset...batch.lastOffset).filter { $0 >= start }
            return batch.isTransactional ? offsets.filter { committedRecords.contains($0) } : offsets
        }
    }
}

private func rejection(_ verdict: ProducerVerdict) -> KafkaErrorCode? {
    if case .rejected(let code, _) = verdict { return code }
    return nil
}

@Suite("Partition transaction state: seeded interleavings against a reference model")
struct PartitionTransactionSimulationTests {
    @Test(
        "seeded: LSO, aborted index, read_committed reads, rebuilds and truncation agree with the model",
        arguments: 0..<500)
    func seeded(seed: UInt64) {
        var sim = TxnSimulation(seed: seed)
        let steps = 160
        let snapshotAt = Int.random(in: 0..<steps, using: &sim.rng)
        var snapshot: (state: PartitionTransactionSnapshot, logCount: Int, highWatermark: Int64)?
        for i in 0..<steps {
            if i == snapshotAt { snapshot = (sim.state.snapshot(), sim.log.count, sim.highWatermark) }
            sim.step()
            if i % 8 == 0 { sim.checkAgainstModel() }
        }
        sim.checkAgainstModel()
        let state = sim.state

        // Aborted-transaction queries against a brute-force filter of the model's entries.
        for _ in 0..<40 {
            let fetch = Int64.random(in: 0...sim.next, using: &sim.rng)
            let upper = Int64.random(in: fetch...(sim.next + 1), using: &sim.rng)
            let expected = sim.aborted.filter { $0.lastOffset >= fetch && $0.firstOffset < upper }
                .map { FetchAbortedTransaction(producerId: $0.producerId, firstOffset: $0.firstOffset) }
            #expect(
                state.abortedTransactions(from: fetch, upTo: upper) == expected, "seed \(seed): \(fetch)..<\(upper)")
        }

        // read_committed from the start and from a random position.
        let lso = state.lastStableOffset(highWatermark: sim.boundary(atLeast: sim.highWatermark))
        for start in [0, Int64.random(in: 0...max(0, lso), using: &sim.rng)] {
            let read = sim.readCommitted(from: start, lastStableOffset: lso)
            #expect(
                read == sim.expectedCommitted(from: start, lastStableOffset: lso), "seed \(seed): read from \(start)")
        }

        // A rebuild from the log, and a snapshot plus the log after it, give the same state.
        var rebuilt = PartitionTransactionState(replaying: sim.log)
        rebuilt.highWatermarkUpdated(sim.highWatermark)
        #expect(rebuilt == state, "seed \(seed): rebuilt state differs")
        guard let snapshot else { return }
        var restored = PartitionTransactionState(restoring: snapshot.state)
        for batch in sim.log[snapshot.logCount...] { restored.apply(batch) }
        restored.highWatermarkUpdated(sim.highWatermark)
        #expect(restored == state, "seed \(seed): snapshot + replay differs")

        // Tail truncation at a batch boundary at or after the snapshot: as if the log had always ended there.
        let cut = sim.boundary(atLeast: snapshot.state.endOffset)
        var truncated = state
        truncated.truncateTail(from: cut, restoring: snapshot.state, replaying: sim.log)
        var expected = PartitionTransactionState(replaying: sim.log.filter { $0.baseOffset < cut })
        expected.highWatermarkUpdated(snapshot.highWatermark)
        #expect(truncated == expected, "seed \(seed): truncation to \(cut) differs")
        var fromStart = state
        fromStart.truncateTail(from: cut, restoring: nil, replaying: sim.log)
        #expect(fromStart == PartitionTransactionState(replaying: sim.log.filter { $0.baseOffset < cut }))

        // Head truncation: queries at or above the new log start are unchanged; the LSO is not below it.
        let start = sim.boundary(atLeast: 0)
        var headCut = state
        headCut.truncateHead(logStartOffset: start)
        #expect(headCut.abortedIndex.allSatisfy { $0.lastOffset >= start }, "seed \(seed)")
        for _ in 0..<10 {
            let fetch = Int64.random(in: start...max(start, sim.next), using: &sim.rng)
            let upper = Int64.random(in: fetch...(sim.next + 1), using: &sim.rng)
            #expect(
                headCut.abortedTransactions(from: fetch, upTo: upper)
                    == state.abortedTransactions(from: fetch, upTo: upper))
        }
        let hw = sim.boundary(atLeast: max(start, sim.highWatermark))
        #expect(
            headCut.lastStableOffset(highWatermark: hw)
                == min(max(sim.modelLastStableOffset(highWatermark: hw), start), hw),
            "seed \(seed): LSO after head truncation")
    }
}
