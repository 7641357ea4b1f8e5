import SkeinGossip
import SkeinGossipSimulation
import SkeinModel
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Seeded runs of whole clusters with invariant checks. Each failing seed prints its seed, its options and the
// tail of its membership events; `SKEIN_GOSSIP_SEED=<seed> SKEIN_GOSSIP_RUN=<kind> swift test --filter replay`
// runs it alone, printing every event.

private func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

/// The kinds of run, by the name the replay test takes.
enum RunKind: String, CaseIterable, Sendable {
    /// No loss: converge, crash one (detected by all within the bound), restart it (alive again everywhere),
    /// one leaves gracefully (never suspected). No false positive ever.
    case lossless
    /// 5% loss and longer delays: converge, crash one (detected by all within the bound), restart it.
    case lossy
    /// Two halves cut apart until each declares the other dead, then healed: everyone alive again everywhere.
    case partition

    func options(seed: UInt64) -> GossipSimulationOptions {
        var options = GossipSimulationOptions(members: 5 + Int(seed % 12))
        options.joinSpreadMillis = 3_000
        switch self {
        case .lossless:
            options.maxDelayMillis = 20
        case .lossy:
            options.members = 5 + Int(seed % 8)
            options.lossRate = 0.05
            options.maxDelayMillis = 40
        case .partition:
            options.members = 6 + Int(seed % 7)
        }
        // Every other seed runs plain SWIM, so both modes meet every invariant.
        options.settings.lifeguard = seed % 2 == 0
        return options
    }
}

/// Bounds computed from the settings, for a cluster of `n`.
struct Bounds {
    let settings: SWIMSettings
    let n: Int
    /// The longest protocol period: the probe interval at the highest LHM.
    var longestPeriod: Int64 {
        settings.probeIntervalMillis * Int64(settings.lifeguard ? settings.maxLocalHealth + 1 : 1)
    }
    /// Every live member probes a crashed one within two of its rounds (round-robin over a shuffled order:
    /// at most 2(n − 1) periods), then suspects it at the period's end and declares it dead at most the
    /// maximum suspicion timeout later, if gossip did not tell it first.
    var detection: Int64 { Int64(2 * n + 1) * longestPeriod + settings.suspicionTimeoutMax(members: n) }
    /// Joining: the seed's snapshot, then gossip, probes of unknown senders and periodic syncs fill the gaps.
    var convergence: Int64 { Int64(2 * n + 10) * longestPeriod + settings.syncIntervalMillis }
}

struct RunOutcome {
    var failure: String?
    var events: [MembershipEvent]
    /// Simulated milliseconds: to converge, and for all to see a crash.
    var convergedIn: Int64 = 0
    var detectedIn: Int64 = 0
}

/// One seeded run of `kind`; `verbose` prints every membership event.
func runSeed(_ seed: UInt64, _ kind: RunKind, verbose: Bool = false) -> RunOutcome {
    let options = kind.options(seed: seed)
    let sim = GossipSimulation(seed: seed, options: options)
    var random = SeededRandom(seed: seed ^ 0xFACE)
    let bounds = Bounds(settings: options.settings, n: options.members)
    var outcome = RunOutcome(events: [])

    func fail(_ reason: String) -> RunOutcome {
        let tail = sim.events.suffix(verbose ? Int.max : 60).map(\.description).joined(separator: "\n")
        outcome.failure = """
            seed \(seed) (\(kind.rawValue)) failed at t=\(sim.now): \(reason)
            replay: SKEIN_GOSSIP_SEED=\(seed) SKEIN_GOSSIP_RUN=\(kind.rawValue) swift test --filter replay
            \(options)
            violations: \(sim.violations)
            --- last membership events ---
            \(tail)
            """
        outcome.events = sim.events
        return outcome
    }

    sim.start()
    guard let converged = sim.run(until: options.joinSpreadMillis + bounds.convergence, { $0.isConverged }) else {
        return fail("no convergence within \(bounds.convergence) ms of the last start")
    }
    outcome.convergedIn = converged

    switch kind {
    case .lossless, .lossy:
        let victim = sim.ids.dropFirst(options.seeds).randomElement(using: &random)!
        let crashedAt = sim.now
        sim.crash(victim)
        guard let all = sim.run(until: crashedAt + bounds.detection, { $0.allSeeDead(victim) }) else {
            return fail("crashed member \(victim) not dead everywhere within \(bounds.detection) ms")
        }
        outcome.detectedIn = all - crashedAt
        sim.restart(victim)
        guard sim.run(until: sim.now + bounds.convergence, { $0.isConverged }) != nil else {
            return fail("restarted member \(victim) not alive everywhere within \(bounds.convergence) ms")
        }
        if kind == .lossless {
            let leaver = sim.liveMembers.filter { $0 != victim }.dropFirst(options.seeds).randomElement(using: &random)!
            let leftAt = sim.now
            sim.leave(leaver)
            sim.run(for: 10 * options.settings.probeIntervalMillis)
            sim.crash(leaver)
            sim.run(for: bounds.detection)
            let wrong = sim.events.filter { $0.subject == leaver && $0.time >= leftAt && $0.to != .left }
            if let first = wrong.first { return fail("member \(leaver) left, yet: \(first)") }
            let unaware = sim.liveMembers.filter { sim.status(of: leaver, seenBy: $0) == .alive }
            if !unaware.isEmpty { return fail("members \(unaware) still see \(leaver), which left, alive") }
            if let fp = sim.falsePositives.first { return fail("false positive on a lossless network: \(fp)") }
        }
    case .partition:
        var ids = sim.ids
        for i in stride(from: ids.count - 1, to: 0, by: -1) { ids.swapAt(i, Int.random(in: 0...i, using: &random)) }
        let half = ids.count / 2
        let (a, b) = (Array(ids.prefix(half)), Array(ids.dropFirst(half)))
        sim.partition([a, b])
        let split = sim.run(until: sim.now + bounds.detection) { sim in
            a.allSatisfy { x in b.allSatisfy { y in sim.status(of: y, seenBy: x) == .dead } }
                && b.allSatisfy { x in a.allSatisfy { y in sim.status(of: y, seenBy: x) == .dead } }
        }
        guard split != nil else { return fail("the halves \(a) and \(b) did not declare each other dead") }
        sim.heal()
        let healedAt = sim.now
        guard let healed = sim.run(until: healedAt + bounds.convergence, { $0.isConverged }) else {
            return fail("no convergence within \(bounds.convergence) ms of healing the partition")
        }
        outcome.detectedIn = healed - healedAt
    }
    if !sim.violations.isEmpty { return fail("violations") }
    if verbose { print(sim.events.map(\.description).joined(separator: "\n")) }
    outcome.events = sim.events
    return outcome
}

/// Runs `seeds`, printing a summary and a report for each failing seed; returns the reports.
func runSeeds(_ seeds: Range<UInt64>, _ kind: RunKind) -> [String] {
    var failures: [String] = []
    var worstConvergence: Int64 = 0
    var worstDetection: Int64 = 0
    var totalDetection: Int64 = 0
    for seed in seeds {
        let outcome = runSeed(seed, kind)
        if let failure = outcome.failure {
            print(failure)
            failures.append(failure)
            continue
        }
        worstConvergence = max(worstConvergence, outcome.convergedIn)
        worstDetection = max(worstDetection, outcome.detectedIn)
        totalDetection += outcome.detectedIn
    }
    let mean = totalDetection / Int64(max(1, seeds.count - failures.count))
    let what = kind == .partition ? "heal" : "detection by all"
    print(
        "\(kind.rawValue) seeds \(seeds): \(failures.count) failed; worst convergence \(worstConvergence) ms; "
            + "\(what): mean \(mean) ms, worst \(worstDetection) ms")
    return failures
}

@Suite("Seeded cluster runs")
struct SeededRunTests {
    static let chunk: UInt64 = 30

    @Test(
        "lossless: converge, crash detected by all in bound, restart, graceful leave, no false positive",
        arguments: 0..<8)
    func lossless(part: Int) {
        let start = UInt64(part) * Self.chunk
        let failures = runSeeds(start..<start + Self.chunk, .lossless)
        #expect(failures.isEmpty, "\(failures.first ?? "")")
    }

    @Test("5% loss: converge, crash detected by all in bound, restart", arguments: 0..<4)
    func lossy(part: Int) {
        let start = 10_000 + UInt64(part) * Self.chunk
        let failures = runSeeds(start..<start + Self.chunk, .lossy)
        #expect(failures.isEmpty, "\(failures.first ?? "")")
    }

    @Test("partition until both halves declare each other dead, then heal: everyone alive again", arguments: 0..<2)
    func partition(part: Int) {
        let start = 20_000 + UInt64(part) * Self.chunk
        let failures = runSeeds(start..<start + Self.chunk, .partition)
        #expect(failures.isEmpty, "\(failures.first ?? "")")
    }

    @Test("a seed replays exactly")
    func deterministic() {
        let first = runSeed(3, .lossy)
        let second = runSeed(3, .lossy)
        #expect(first.failure == nil)
        #expect(first.events == second.events && first.events.count > 20)
    }

    @Test("replay one seed: SKEIN_GOSSIP_SEED and SKEIN_GOSSIP_RUN (lossless, lossy, partition)")
    func replay() {
        guard let seed = environment("SKEIN_GOSSIP_SEED").flatMap(UInt64.init) else { return }
        let kind = environment("SKEIN_GOSSIP_RUN").flatMap(RunKind.init(rawValue:)) ?? .lossless
        let outcome = runSeed(seed, kind, verbose: true)
        if let failure = outcome.failure { print(failure) }
        #expect(outcome.failure == nil)
    }
}

@Suite("Slow members")
struct SlowMemberTests {
    @Test("Lifeguard: fewer false positives with slow members under loss; slow members raise their own LHM")
    func lifeguardHelps() {
        var plan = GossipScenario.Plan()
        plan.members = 24
        plan.slowMembers = 3
        plan.faultyMillis = 60_000
        var with = 0
        var without = 0
        for seed: UInt64 in [1, 2] {
            plan.lifeguard = true
            let on = GossipScenario.run(plan, seed: seed)
            plan.lifeguard = false
            let off = GossipScenario.run(plan, seed: seed)
            print(on)
            print(off)
            for report in [on, off] {
                #expect(report.violations.isEmpty)
                #expect(report.initialConvergenceMillis != nil && report.joinConvergenceMillis != nil)
                #expect(report.cleanDetectionAllMillis != nil && report.faultyDetectionAllMillis != nil)
                #expect(report.cleanFalsePositives == 0)
            }
            #expect(on.meanLocalHealthSlow > on.meanLocalHealthHealthy + 2)
            with += on.falseSuspicions
            without += off.falseSuspicions
        }
        #expect(with * 2 < without, "false suspicions: \(with) with Lifeguard, \(without) without")
    }
}
