import SkeinModel
import SkeinTransactions
import Testing

private func batch(
    _ pid: Int64 = 7, epoch: Int16 = 0, seq: Int32, count: Int32 = 1, at offset: Int64 = -1, time: Int64 = 1000
) -> ProducerBatch {
    ProducerBatch(
        producerId: pid, producerEpoch: epoch, firstSequence: seq, lastOffsetDelta: count - 1, baseOffset: offset,
        maxTimestamp: time)
}

private func code(_ verdict: ProducerVerdict) -> KafkaErrorCode? {
    if case .rejected(let code, _) = verdict { return code }
    return nil
}

@Suite("Producer state: Kafka's idempotence rules")
struct ProducerStateTests {
    @Test("an unknown producer is accepted at any sequence (KIP-360), then must continue in sequence")
    func unknownThenInSequence() {
        var table = ProducerStateTable()
        #expect(table.check(batch(seq: 42)) == .append)
        table.apply(batch(seq: 42, count: 3, at: 10))
        #expect(table[7]?.lastSequence == 44)
        #expect(table.check(batch(seq: 45)) == .append)
        #expect(code(table.check(batch(seq: 46))) == .outOfOrderSequenceNumber)
        #expect(code(table.check(batch(seq: 40))) == .outOfOrderSequenceNumber)
    }

    @Test("a retry of one of the last five batches is a duplicate with the original offsets; older is out of order")
    func duplicatesOfTheLastFive() {
        var table = ProducerStateTable()
        for i in 0..<7 { table.apply(batch(seq: Int32(i * 2), count: 2, at: Int64(100 + i * 2))) }
        #expect(table[7]?.batches.count == ProducerStateTable.batchesRetained)
        #expect(table.check(batch(seq: 4, count: 2)) == .duplicate(batch(seq: 4, count: 2, at: 104)))
        #expect(table.check(batch(seq: 12, count: 2)) == .duplicate(batch(seq: 12, count: 2, at: 112)))
        // Batch 0-1 and 2-3 fell out of the window: their retry cannot be told from a gap.
        #expect(code(table.check(batch(seq: 2, count: 2))) == .outOfOrderSequenceNumber)
        // Same first sequence, different size: not the same batch.
        #expect(code(table.check(batch(seq: 4, count: 1))) == .outOfOrderSequenceNumber)
    }

    @Test("an older epoch is INVALID_PRODUCER_EPOCH; a newer one must start at sequence 0 and replaces the entry")
    func epochs() {
        var table = ProducerStateTable()
        table.apply(batch(epoch: 3, seq: 0, count: 5, at: 0))
        #expect(code(table.check(batch(epoch: 2, seq: 5))) == .invalidProducerEpoch)
        #expect(code(table.check(batch(epoch: 4, seq: 5))) == .outOfOrderSequenceNumber)
        #expect(table.check(batch(epoch: 4, seq: 0)) == .append)
        table.apply(batch(epoch: 4, seq: 0, at: 5))
        #expect(table[7]?.producerEpoch == 4)
        #expect(table[7]?.batches.count == 1)
        // A retry of the old epoch's batch is no duplicate any more: the epoch is fenced.
        #expect(code(table.check(batch(epoch: 3, seq: 0, count: 5))) == .invalidProducerEpoch)
    }

    @Test("sequences wrap from Int32.max to 0")
    func wrap() {
        var table = ProducerStateTable()
        table.apply(batch(seq: Int32.max - 1, count: 2, at: 0))
        #expect(table[7]?.lastSequence == Int32.max)
        #expect(table.check(batch(seq: 0, count: 3)) == .append)
        #expect(ProducerStateTable.sequence(Int32.max - 1, plus: 3) == 1)
    }

    @Test("expiry and log-start removal forget producers, as a rebuild from the remaining log would")
    func expiryAndRetention() {
        var table = ProducerStateTable()
        table.apply(batch(1, seq: 0, at: 0, time: 1_000))
        table.apply(batch(2, seq: 0, at: 1, time: 5_000))
        table.apply(batch(2, seq: 1, at: 2, time: 6_000))
        #expect(table.expire(now: 10_000, expirationMs: 8_000) == 1)
        #expect(table[1] == nil && table[2] != nil)
        table.removeBelow(logStartOffset: 2)
        #expect(table[2]?.batches.map(\.firstSequence) == [1])
        table.removeBelow(logStartOffset: 3)
        #expect(table.count == 0)
    }

    /// A producer with up to five batches in flight over a network that loses responses (so the producer
    /// retries), duplicates requests and reorders them; the partition checks each arrival and appends what is
    /// accepted. Kafka's guarantee must hold: every sequence is in the log exactly once, in order, and every
    /// duplicate answer names the offsets where the batch really is. The table kept up by `apply` must also equal
    /// one rebuilt from the log.
    @Test("seeded: retries, duplicates and reordering never duplicate or reorder a producer's records", arguments: 0..<500)
    func seededIdempotence(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var table = ProducerStateTable()
        var log: [ProducerBatch] = []
        var nextOffset: Int64 = 0
        let producers: [Int64] = [1, 2, 3]
        // Per producer: the batches it has sent (sequence ranges), which are acknowledged.
        var sent: [Int64: [(seq: Int32, count: Int32)]] = [:]
        var acked: [Int64: Set<Int32>] = [:]
        var inFlight: [(pid: Int64, seq: Int32, count: Int32)] = []
        var nextSeq: [Int64: Int32] = [:]
        for _ in 0..<300 {
            // Send new batches while the window allows.
            for pid in producers where inFlight.filter({ $0.pid == pid }).count < 5 && Int.random(in: 0..<3, using: &rng) == 0 {
                let count = Int32.random(in: 1...4, using: &rng)
                let seq = nextSeq[pid, default: 0]
                nextSeq[pid] = seq + count
                sent[pid, default: []].append((seq, count))
                inFlight.append((pid, seq, count))
            }
            guard !inFlight.isEmpty else { continue }
            // Deliver one in-flight request, usually the oldest, sometimes another (reordering).
            // Reordered arrivals only once the partition knows the producer: a new producer's first batch is
            // accepted at any sequence (KIP-360), so Kafka's clients never let a later one overtake it.
            var i = Int.random(in: 0..<4, using: &rng) == 0 ? Int.random(in: 0..<inFlight.count, using: &rng) : 0
            if table[inFlight[i].pid] == nil { i = inFlight.firstIndex { $0.pid == inFlight[i].pid }! }
            let request = inFlight[i]
            let b = batch(request.pid, seq: request.seq, count: request.count)
            var answered = false
            switch table.check(b) {
            case .append:
                var stored = b
                stored.baseOffset = nextOffset
                stored.lastOffset = nextOffset + Int64(request.count) - 1
                nextOffset = stored.lastOffset + 1
                table.apply(stored)
                log.append(stored)
                answered = true
            case .duplicate(let original):
                #expect(log.contains(original), "seed \(seed): a duplicate answer must name a stored batch")
                answered = true
            case .rejected(let code, _):
                // Out of order: an earlier batch has not arrived yet; the producer retries later.
                #expect(code == .outOfOrderSequenceNumber, "seed \(seed)")
            }
            // The response may be lost (the request stays in flight and is retried), and a request may be
            // duplicated by the network (it stays in flight even when answered).
            let responseLost = Int.random(in: 0..<5, using: &rng) == 0
            let duplicated = Int.random(in: 0..<10, using: &rng) == 0
            if answered && !responseLost && !duplicated {
                acked[request.pid, default: []].insert(request.seq)
                inFlight.remove(at: i)
            }
        }
        for pid in producers {
            let stored = log.filter { $0.producerId == pid }
            // In order and gapless from the first sequence, each batch once.
            var expected: Int32 = 0
            for s in stored {
                #expect(s.firstSequence == expected, "seed \(seed): producer \(pid) out of order or duplicated")
                expected = s.lastSequence + 1
            }
            // Everything acknowledged is stored.
            let storedFirsts = Set(stored.map(\.firstSequence))
            #expect(acked[pid, default: []].isSubset(of: storedFirsts), "seed \(seed): acknowledged batch lost")
        }
        var rebuilt = ProducerStateTable()
        for b in log { rebuilt.apply(b) }
        #expect(rebuilt == table, "seed \(seed): incremental and rebuilt producer state differ")
    }
}
