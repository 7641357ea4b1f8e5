import SkeinModel
import SkeinTransactions
import Testing

/// A min-heap of timed events; ties keep insertion order, so runs are deterministic.
struct TxnEventQueue<Event> {
    private var heap: [(time: Int64, seq: UInt64, event: Event)] = []
    private var seq: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ time: Int64, _ event: Event) {
        seq += 1
        heap.append((time, seq, event))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (time: Int64, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            var smallest = parent
            if left < heap.count && less(left, smallest) { smallest = left }
            if left + 1 < heap.count && less(left + 1, smallest) { smallest = left + 1 }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.event)
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].time != heap[b].time ? heap[a].time < heap[b].time : heap[a].seq < heap[b].seq
    }
}

/// One producer instance with a transactional id. A newer instance of the same id fences it; until it learns
/// that, it goes on as a zombie.
final class SimProducer {
    enum Phase { case initializing, idle, adding, ending, dead }
    let txnId: String
    let instance: Int
    let transactionVersion2: Bool
    let timeoutMs: Int32
    var producerId: Int64 = -1
    var epoch: Int16 = -1
    var phase = Phase.initializing
    /// KIP-360: the next InitProducerId names the pair the producer holds.
    var recovering = false
    var pending: (id: TxnRequestID, request: TxnRequest, sentAt: Int64)?
    var addsLeft = 0
    var commit = true
    var pausedUntil: Int64 = 0

    init(txnId: String, instance: Int, transactionVersion2: Bool, timeoutMs: Int32) {
        self.txnId = txnId
        self.instance = instance
        self.transactionVersion2 = transactionVersion2
        self.timeoutMs = timeoutMs
    }
}

/// Several transactional producers against one coordinator over a network that loses, duplicates and delays
/// messages, with pauses (zombies), new instances of the same transactional id, timeouts, expiry and coordinator
/// crashes (rebuild by replay; only persisted records survive, unsent responses are lost). Invariants are checked
/// on the coordinator's output as the shell carries it out.
final class TransactionSimulation {
    enum Event {
        case request(TxnRequestID, TxnRequest, producer: SimProducer?)
        case response(TxnRequestID, TxnResponse, producer: SimProducer?)
        case step(SimProducer)
        case markersDone(TxnMarkers, generation: Int)
        case block(generation: Int)
        case crash
        /// Nothing but the passage of time (the coordinator ticks on the way).
        case wake
    }

    let seed: UInt64
    var random: SeededRandom
    var config = TransactionCoordinatorConfig()
    var coordinator: TransactionCoordinator
    var generation = 0
    var queue = TxnEventQueue<Event>()
    var now: Int64 = 0
    var nextRequestId: TxnRequestID = 1
    var nextProducerId: Int64 = 100
    var blockRequested = false
    var producers: [SimProducer] = []
    var instances: [String: Int] = [:]
    var stopped = false

    /// The durable log (records as their bytes decode) and what a follower rebuilds from it.
    var log: [TxnRecord] = []
    var loader = TransactionStateLoader()
    /// Per transactional id: the lowest (producer id, epoch) still allowed to succeed: an InitProducerId grant, or
    /// one past the epoch of a fencing abort (which nobody holds). Any later success below it is a zombie's.
    var fencePoint: [String: (Int64, Int32)] = [:]
    /// Per transactional id: the highest (producer id, epoch) seen in its records.
    var recordPoint: [String: (Int64, Int16)] = [:]
    /// Per transactional id: how many transactions it has started (in its records).
    var transactionCount: [String: Int] = [:]
    /// The outcome each transaction's markers were requested with (key: transactional id and transaction number;
    /// with transaction version 1 consecutive transactions share a producer id and epoch).
    var outcomes: [String: Bool] = [:]
    var failures: [String] = []
    var stats = (requests: 0, crashes: 0, commits: 0, aborts: 0, fences: 0, expired: 0)

    init(seed: UInt64) {
        self.seed = seed
        random = SeededRandom(seed: seed)
        config.transactionMaxTimeoutMs = 30_000
        config.transactionalIdExpirationMs = 90_000
        config.removeExpiredTransactionalIdCleanupIntervalMs = 20_000
        config.transactionVersionLevel = random.chance(0.2) ? 0 : 2
        coordinator = TransactionCoordinator(config: config, coordinatorEpoch: 0)
    }

    func fail(_ message: String) {
        if failures.count < 5 { failures.append("seed \(seed) t=\(now): \(message)") }
    }

    static func less(_ a: (Int64, Int16), _ b: (Int64, Int16)) -> Bool { a.0 != b.0 ? a.0 < b.0 : a.1 < b.1 }
    static func less(_ a: (Int64, Int16), _ b: (Int64, Int32)) -> Bool { a.0 != b.0 ? a.0 < b.0 : Int32(a.1) < b.1 }

    // MARK: running

    func run(producerCount: Int, durationMs: Int64) {
        for index in 0..<producerCount { spawn("tx\(index)", at: random.between(0, 500)) }
        queue.push(random.between(5_000, 40_000), .crash)
        while let (time, event) = queue.pop() {
            if time > durationMs {
                queue.push(time, event)
                break
            }
            advance(to: time)
            handle(event)
            if !failures.isEmpty { return }
        }
        // Quiesce: no client activity; in-flight requests are dropped. Markers and ticks go on.
        stopped = true
        let end =
            durationMs + Int64(config.transactionMaxTimeoutMs) + 3 * config.abortTimedOutTransactionCleanupIntervalMs
        for time in stride(from: durationMs, through: end, by: 1_000) { queue.push(time, .wake) }
        while let (time, event) = queue.pop(), time <= end {
            advance(to: time)
            switch event {
            case .markersDone, .block: handle(event)
            default: break
            }
        }
        advance(to: end)
        for (txnId, value) in coordinator.snapshot().sorted(by: { $0.key < $1.key }) {
            if value.state == .ongoing || value.state.isPreparing {
                fail("\(txnId) still \(value.state) after quiescence")
            }
        }
        checkReplay()
    }

    /// Ticks the coordinator at every deadline up to `time`.
    func advance(to time: Int64) {
        while let deadline = coordinator.nextDeadline, deadline <= time {
            now = max(now, deadline)
            let before = fences()
            carry(coordinator.tick(now: now), cause: .tick, before: before)
        }
        now = max(now, time)
    }

    func fences() -> Set<String> { Set(coordinator.snapshot().filter { $0.value.state == .ongoing }.keys) }

    func spawn(_ txnId: String, at time: Int64) {
        let instance = instances[txnId, default: 0] + 1
        instances[txnId] = instance
        let producer = SimProducer(
            txnId: txnId, instance: instance, transactionVersion2: random.chance(0.5),
            timeoutMs: Int32(random.between(4_000, 20_000)))
        producers.append(producer)
        queue.push(time, .step(producer))
    }

    func send(_ request: TxnRequest, from producer: SimProducer?) -> TxnRequestID {
        let id = nextRequestId
        nextRequestId += 1
        stats.requests += 1
        if random.chance(0.05) { return id }  // lost on the way
        queue.push(now + random.between(1, 40), .request(id, request, producer: producer))
        if random.chance(0.05) { queue.push(now + random.between(1, 3_000), .request(id, request, producer: nil)) }
        return id
    }

    enum Cause { case request(TxnRequest), tick, markers, other }

    func handle(_ event: Event) {
        switch event {
        case .request(let id, let request, let producer):
            if stopped { return }
            let before = fences()
            let output = coordinator.handle(request, id: id, now: now)
            if random.chance(0.01) {
                crash(during: output, cause: .request(request), before: before, producer: producer)
            } else {
                carry(output, cause: .request(request), before: before, producer: producer)
            }
        case .response(let id, let response, let producer):
            guard let producer, !stopped else { return }
            receive(producer, id, response)
        case .step(let producer):
            if stopped { return }
            step(producer)
        case .markersDone(let markers, let generation):
            guard generation == self.generation else { return }  // that shell died with its coordinator
            carry(coordinator.markersWritten(markers, now: now), cause: .markers, before: [])
            if random.chance(0.1) {
                carry(coordinator.markersWritten(markers, now: now), cause: .markers, before: [])
            }
        case .block(let generation):
            guard generation == self.generation else { return }
            blockRequested = false
            let count = random.between(1, 6)
            let first = nextProducerId
            nextProducerId += count
            carry(
                coordinator.addProducerIdBlock(firstProducerId: first, count: count, now: now), cause: .other,
                before: [])
        case .crash:
            crash(during: [], cause: .other, before: [], producer: nil)
            queue.push(now + random.between(5_000, 60_000), .crash)
        case .wake:
            break
        }
    }

    // MARK: the shell

    /// Carries out `directives` in order, checking invariants; `upTo` cuts it short (a crash).
    func carry(
        _ directives: [TxnDirective], cause: Cause, before: Set<String>, producer: SimProducer? = nil, upTo: Int? = nil
    ) {
        for (index, directive) in directives.enumerated() {
            if let upTo, index >= upTo { return }
            switch directive {
            case .persist(let records):
                for record in records { append(record, cause: cause, before: before) }
            case .respond(let id, let response):
                check(response: response, cause: cause)
                if random.chance(0.08) { continue }  // lost
                queue.push(now + random.between(1, 40), .response(id, response, producer: producer))
            case .writeMarkers(let markers):
                check(markers: markers)
                queue.push(now + random.between(5, 2_000), .markersDone(markers, generation: generation))
            case .requestProducerIdBlock:
                if !blockRequested {
                    blockRequested = true
                    queue.push(now + random.between(5, 300), .block(generation: generation))
                }
            }
        }
        if upTo == nil { checkLive() }
    }

    func append(_ record: TxnRecord, cause: Cause, before: Set<String>) {
        guard let decoded = try? TxnRecord.decode(key: record.keyBytes(), value: record.valueBytes()), decoded == record
        else { return fail("record does not round-trip: \(record)") }
        let previous = loader.snapshot()[record.transactionalId]
        log.append(decoded)
        loader.apply(decoded)
        guard let value = decoded.value else {
            stats.expired += 1
            return
        }
        let point = (value.producerId, value.producerEpoch)
        if let last = recordPoint[record.transactionalId], Self.less(point, last) {
            fail("epoch of \(record.transactionalId) went back from \(last) to \(point)")
        }
        recordPoint[record.transactionalId] = point
        let wasOpen = previous.map { $0.state == .ongoing || $0.state.isPreparing } ?? false
        if (value.state == .ongoing || value.state.isPreparing) && !wasOpen {
            transactionCount[record.transactionalId, default: 0] += 1
        }
        // A PrepareAbort of a transaction that was Ongoing, written by a tick or an InitProducerId, is a fence.
        var isFence = false
        switch cause {
        case .tick: isFence = value.state == .prepareAbort
        case .request(.initProducerId): isFence = value.state == .prepareAbort
        default: break
        }
        if isFence {
            stats.fences += 1
            if previous?.state != .ongoing || !before.contains(record.transactionalId) {
                fail("fence of \(record.transactionalId) that was not ongoing")
            }
            raiseFence(record.transactionalId, (value.producerId, Int32(value.producerEpoch) + 1))
        }
        if value.state == .empty && previous?.state == .ongoing { fail("Ongoing -> Empty without an end") }
    }

    func raiseFence(_ txnId: String, _ point: (Int64, Int32)) {
        if let current = fencePoint[txnId], current.0 > point.0 || (current.0 == point.0 && current.1 >= point.1) {
            return
        }
        fencePoint[txnId] = point
    }

    func check(response: TxnResponse, cause: Cause) {
        guard case .request(let request) = cause else { return }
        func zombieCheck(_ txnId: String, _ pid: Int64, _ epoch: Int16, _ what: String) {
            if let fence = fencePoint[txnId], Self.less((pid, epoch), fence) {
                fail("\(what) of \(txnId) succeeded with fenced (\(pid), \(epoch)) below \(fence)")
            }
        }
        switch (request, response) {
        case (.initProducerId(let r), .initProducerId(let answer)) where answer.errorCode == .none:
            guard let txnId = r.transactionalId else { return }
            if let fence = fencePoint[txnId], Self.less((answer.producerId, answer.producerEpoch), fence) {
                fail("InitProducerId of \(txnId) granted \(answer) below \(fence)")
            }
            raiseFence(txnId, (answer.producerId, Int32(answer.producerEpoch)))
        case (.addPartitionsToTxn(let r), .addPartitionsToTxn(let answer)):
            if answer.errors.values.allSatisfy({ $0 == .none }) {
                zombieCheck(r.transactionalId, r.producerId, r.producerEpoch, r.verifyOnly ? "verification" : "add")
                let inTxn = Set(coordinator.transaction(r.transactionalId)?.partitions ?? [])
                if !Set(r.partitions).isSubset(of: inTxn) { fail("partitions acknowledged but not in the transaction") }
            }
        case (.addOffsetsToTxn(let r), .addOffsetsToTxn(let code)) where code == .none:
            zombieCheck(r.transactionalId, r.producerId, r.producerEpoch, "add offsets")
        case (.endTxn(let r), .endTxn(let answer)) where answer.errorCode == .none:
            zombieCheck(r.transactionalId, r.producerId, r.producerEpoch, "EndTxn")
            if let value = coordinator.transaction(r.transactionalId) {
                let ended: Set<TransactionState> =
                    r.commit ? [.prepareCommit, .completeCommit] : [.prepareAbort, .completeAbort]
                if !ended.contains(value.state) { fail("EndTxn answered NONE in \(value.state)") }
            }
        default: break
        }
    }

    func check(markers: TxnMarkers) {
        guard let last = log.last(where: { $0.transactionalId == markers.transactionalId })?.value else {
            return fail("markers for \(markers.transactionalId) without a persisted record")
        }
        let expected: TransactionState = markers.commit ? .prepareCommit : .prepareAbort
        if last.state != expected || last.producerId != markers.producerId
            || last.producerEpoch != markers.producerEpoch
            || last.partitions != markers.partitions
        {
            fail("markers \(markers) do not follow a persisted Prepare state (last record \(last))")
        }
        let key = "\(markers.transactionalId)#\(transactionCount[markers.transactionalId, default: 0])"
        if let earlier = outcomes[key], earlier != markers.commit {
            fail("transaction \(key) got both COMMIT and ABORT markers")
        }
        if outcomes[key] == nil { markers.commit ? (stats.commits += 1) : (stats.aborts += 1) }
        outcomes[key] = markers.commit
    }

    /// The live state equals what a follower rebuilt from the persisted records.
    func checkLive() {
        let live = coordinator.snapshot()
        let persisted = loader.snapshot()
        if live != persisted {
            let differing = Set(live.keys).union(persisted.keys).filter { live[$0] != persisted[$0] }.sorted()
            fail("live state differs from the persisted one for \(differing)")
        }
    }

    func checkReplay() {
        let replayed = TransactionCoordinator.replay(log, config: config, now: now).snapshot()
        if replayed != loader.snapshot() { fail("replay of the log differs from the incremental load") }
    }

    /// The coordinator dies while carrying out `output` (at a random directive): what was persisted stays, the
    /// rest is lost; a new coordinator is rebuilt from the log and completes prepared transactions.
    func crash(during output: [TxnDirective], cause: Cause, before: Set<String>, producer: SimProducer?) {
        stats.crashes += 1
        let cut = output.isEmpty ? 0 : Int(random.next() % UInt64(output.count + 1))
        carry(output, cause: cause, before: before, producer: producer, upTo: cut)
        generation += 1
        blockRequested = false
        coordinator = TransactionCoordinator.replay(log, config: config, coordinatorEpoch: Int32(generation), now: now)
        if coordinator.snapshot() != loader.snapshot() { fail("state after replay differs from the persisted state") }
        checkReplay()
        carry(coordinator.resumeAfterLoad(now: now), cause: .other, before: [])
    }

    // MARK: producers

    func partitions() -> [TxnTopicPartition] {
        let all = [tp0, tp1, up0, TxnTopicPartition("v", 2)]
        return (0..<Int(random.between(1, 3))).map { _ in random.pick(all) }
    }

    func step(_ p: SimProducer) {
        guard p.phase != .dead else { return }
        queue.push(now + random.between(50, 400), .step(p))
        if now < p.pausedUntil { return }
        if let pending = p.pending {
            // No answer yet: retry the same request after the request timeout.
            if now - pending.sentAt >= 1_500 { p.pending = (send(pending.request, from: p), pending.request, now) }
            return
        }
        if random.chance(0.01) {
            // A long pause, often past the transaction timeout: the producer comes back as a zombie.
            p.pausedUntil = now + random.between(1_000, 30_000)
            return
        }
        if random.chance(0.003) {
            // Another instance of the same transactional id starts (the old one is not told).
            spawn(p.txnId, at: now + random.between(0, 1_000))
        }
        switch p.phase {
        case .initializing:
            let recover = p.recovering && p.producerId >= 0
            let request = TxnRequest.initProducerId(
                InitProducerIdRequest(
                    transactionalId: p.txnId, transactionTimeoutMs: p.timeoutMs,
                    producerId: recover ? p.producerId : -1, producerEpoch: recover ? p.epoch : -1,
                    apiVersion: random.chance(0.5) ? 5 : 3))
            p.pending = (send(request, from: p), request, now)
        case .idle:
            if random.chance(0.02) {
                p.pausedUntil = now + random.between(10_000, 120_000)  // idle long enough to expire
                return
            }
            p.addsLeft = Int(random.between(1, 3))
            p.commit = random.chance(0.7)
            p.phase = .adding
            sendAdd(p)
        case .adding:
            if p.addsLeft > 0 {
                sendAdd(p)
            } else {
                let request = TxnRequest.endTxn(
                    EndTxnRequest(
                        transactionalId: p.txnId, producerId: p.producerId, producerEpoch: p.epoch, commit: p.commit,
                        apiVersion: p.transactionVersion2 ? 5 : 4))
                p.phase = .ending
                p.pending = (send(request, from: p), request, now)
            }
        case .ending, .dead:
            break
        }
    }

    func sendAdd(_ p: SimProducer) {
        let request: TxnRequest =
            random.chance(0.2)
            ? .addOffsetsToTxn(
                AddOffsetsToTxnRequest(
                    transactionalId: p.txnId, producerId: p.producerId, producerEpoch: p.epoch, groupId: "group",
                    apiVersion: 3))
            : .addPartitionsToTxn(
                AddPartitionsToTxnRequest(
                    transactionalId: p.txnId, producerId: p.producerId, producerEpoch: p.epoch,
                    partitions: partitions(), apiVersion: random.chance(0.5) ? 3 : 1))
        p.pending = (send(request, from: p), request, now)
        // A partition leader verifies a produce request against the transaction (KIP-890), fire and forget.
        if random.chance(0.3) {
            _ = send(
                .addPartitionsToTxn(
                    AddPartitionsToTxnRequest(
                        transactionalId: p.txnId, producerId: p.producerId, producerEpoch: p.epoch,
                        partitions: partitions(), verifyOnly: true, apiVersion: 4)), from: nil)
        }
    }

    func receive(_ p: SimProducer, _ id: TxnRequestID, _ response: TxnResponse) {
        guard let pending = p.pending, pending.id == id, p.phase != .dead else { return }
        p.pending = nil
        func fatal(_ code: KafkaErrorCode) {
            switch code {
            case .producerFenced, .invalidProducerEpoch:
                p.phase = .dead
                if instances[p.txnId] == p.instance { spawn(p.txnId, at: now + random.between(100, 2_000)) }
            default:
                // Abortable: recover with KIP-360 (the producer names its pair).
                p.phase = .initializing
                p.recovering = true
            }
        }
        switch response {
        case .initProducerId(let r):
            switch r.errorCode {
            case .none:
                p.producerId = r.producerId
                p.epoch = r.producerEpoch
                p.recovering = false
                p.phase = .idle
            case .concurrentTransactions, .coordinatorLoadInProgress: break
            default: fatal(r.errorCode)
            }
        case .addPartitionsToTxn(let r):
            let code = r.errors.values.first(where: { $0 != .none }) ?? .none
            switch code {
            case .none: p.addsLeft -= 1
            case .concurrentTransactions: break
            default: fatal(code)
            }
        case .addOffsetsToTxn(let code):
            switch code {
            case .none: p.addsLeft -= 1
            case .concurrentTransactions: break
            default: fatal(code)
            }
        case .endTxn(let r):
            switch r.errorCode {
            case .none:
                if p.transactionVersion2 && config.transactionVersionLevel >= 2 {
                    p.producerId = r.producerId
                    p.epoch = r.producerEpoch
                }
                p.phase = .idle
            case .concurrentTransactions:
                // Retry the same EndTxn.
                p.pending = (send(pending.request, from: p), pending.request, now)
            default: fatal(r.errorCode)
            }
        case .describeTransactions, .listTransactions:
            break
        }
    }
}

@Suite("Transaction coordinator: seeded simulation")
struct TransactionSimulationTests {
    @Test("producers, zombies, lossy network, timeouts, expiry and crashes keep Kafka's guarantees", arguments: 0..<320)
    func simulate(seed: UInt64) {
        let sim = TransactionSimulation(seed: seed)
        sim.run(producerCount: 4, durationMs: 120_000)
        #expect(sim.failures.isEmpty, "\(sim.failures)")
        #expect(sim.stats.commits + sim.stats.aborts > 0, "seed \(seed): no transaction ended")
    }

    @Test("the simulation exercises every path across seeds")
    func coverage() {
        var crashes = 0, fences = 0, expired = 0, commits = 0, aborts = 0
        for seed: UInt64 in 1000..<1010 {
            let sim = TransactionSimulation(seed: seed)
            sim.run(producerCount: 4, durationMs: 120_000)
            #expect(sim.failures.isEmpty, "\(sim.failures)")
            crashes += sim.stats.crashes
            fences += sim.stats.fences
            expired += sim.stats.expired
            commits += sim.stats.commits
            aborts += sim.stats.aborts
        }
        #expect(crashes > 10 && fences > 5 && expired > 0 && commits > 50 && aborts > 20)
    }
}
