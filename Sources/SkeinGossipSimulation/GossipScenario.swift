import SkeinGossip
import SkeinModel

/// What one run of `GossipScenario` measured. Times are simulated milliseconds; nil means "not within the
/// scenario's deadline".
public struct ScenarioReport: Sendable {
    public var seed: UInt64
    public var options: GossipSimulationOptions
    public var slowMembers: [BrokerId] = []
    /// Packet loss and length of the faulty phase.
    public var lossRate = 0.0
    public var faultyMillis: Int64 = 0
    /// From the first start until every member sees every other alive.
    public var initialConvergenceMillis: Int64?
    /// From a new member's start until it sees everyone and everyone sees it.
    public var joinConvergenceMillis: Int64?
    /// Crash detection on a clean network: until the first member declares it dead, and until all do.
    public var cleanDetectionFirstMillis: Int64?
    public var cleanDetectionAllMillis: Int64?
    /// The same under loss with slow members.
    public var faultyDetectionFirstMillis: Int64?
    public var faultyDetectionAllMillis: Int64?
    /// False positives about healthy (running, not slow) members during the faulty phase: declarations (one per
    /// observer), distinct episodes (member and incarnation: refuting ends an episode), distinct members.
    public var falseSuspicions = 0
    public var falseSuspicionEpisodes = 0
    public var falseDeaths = 0
    public var falseDeathEpisodes = 0
    public var healthyMembersFalselySuspected = 0
    /// The same declarations about the slow members themselves (alive, but really unresponsive).
    public var slowMemberSuspicions = 0
    public var slowMemberDeaths = 0
    /// False positives on the clean network (must be 0).
    public var cleanFalsePositives = 0
    /// Mean Local Health Multiplier at the end of the faulty phase, of healthy and of slow members.
    public var meanLocalHealthHealthy = 0.0
    public var meanLocalHealthSlow = 0.0
    public var network = NetworkStats()
    public var violations: [String] = []

    public init(seed: UInt64, options: GossipSimulationOptions) {
        self.seed = seed
        self.options = options
    }
}

/// A cluster-sized scenario: start N members, measure convergence, a join, crash detection on a clean network,
/// then run with packet loss and slow members counting false positives, and measure crash detection there.
public enum GossipScenario {
    public struct Plan: Sendable {
        public var members = 200
        public var slowMembers = 10
        public var lossRate = 0.10
        /// How long the faulty phase runs before its crash.
        public var faultyMillis: Int64 = 120_000
        public var lifeguard = true
        public init() {}
    }

    public static func run(_ plan: Plan, seed: UInt64) -> ScenarioReport {
        var options = GossipSimulationOptions(
            members: plan.members, settings: SWIMSettings(lifeguard: plan.lifeguard))
        options.seeds = min(3, plan.members)
        options.joinSpreadMillis = 5_000
        options.minDelayMillis = 1
        options.maxDelayMillis = 10
        let sim = GossipSimulation(seed: seed, options: options)
        var report = ScenarioReport(seed: seed, options: options)
        var random = SeededRandom(seed: seed ^ 0x5CE7_A810)
        let limit: Int64 = 300_000

        // Start and converge.
        sim.start()
        report.initialConvergenceMillis = sim.run(until: limit) { $0.isConverged }
        sim.run(for: 5_000)

        // One more member joins.
        let joinedAt = sim.now
        sim.addMember()
        report.joinConvergenceMillis = sim.run(until: sim.now + limit) { $0.isConverged }.map { $0 - joinedAt }
        sim.run(for: 5_000)

        // A crash on a clean network.
        let candidates = sim.ids.dropFirst(options.seeds).filter { sim.isRunning($0) }.sorted()
        var shuffled = Array(candidates)
        shuffled.shuffle(using: &random)
        let cleanVictim = shuffled[0]
        (report.cleanDetectionFirstMillis, report.cleanDetectionAllMillis) = detect(cleanVictim, in: sim, limit)
        report.cleanFalsePositives = sim.falsePositives.count

        // Loss and slow members.
        sim.run(for: 5_000)
        let slow = Array(shuffled.dropFirst().prefix(plan.slowMembers)).sorted()
        report.slowMembers = slow
        report.lossRate = plan.lossRate
        report.faultyMillis = plan.faultyMillis
        for id in slow { sim.setSlow(id) }
        sim.lossRate = plan.lossRate
        let faultsFrom = sim.events.count
        sim.run(for: plan.faultyMillis)
        let faultyVictim = shuffled[plan.slowMembers + 1]
        (report.faultyDetectionFirstMillis, report.faultyDetectionAllMillis) = detect(faultyVictim, in: sim, limit)

        let faulty = sim.events[faultsFrom...].filter { $0.subjectWasLive }
        let healthy = faulty.filter { !$0.subjectWasSlow }
        let suspicions = healthy.filter { $0.to == .suspect }
        let deaths = healthy.filter { $0.to == .dead }
        report.falseSuspicions = suspicions.count
        report.falseDeaths = deaths.count
        report.falseSuspicionEpisodes = Set(suspicions.map { "\($0.subject)#\($0.incarnation)" }).count
        report.falseDeathEpisodes = Set(deaths.map { "\($0.subject)#\($0.incarnation)" }).count
        report.healthyMembersFalselySuspected = Set(suspicions.map(\.subject)).count
        report.slowMemberSuspicions = faulty.filter { $0.subjectWasSlow && $0.to == .suspect }.count
        report.slowMemberDeaths = faulty.filter { $0.subjectWasSlow && $0.to == .dead }.count

        let live = sim.liveMembers
        let healthyLive = live.filter { !sim.isSlow($0) }
        let slowLive = live.filter { sim.isSlow($0) }
        func meanHealth(_ ids: [BrokerId]) -> Double {
            ids.isEmpty ? 0 : Double(ids.reduce(0) { $0 + (sim.instance($1)?.localHealth ?? 0) }) / Double(ids.count)
        }
        report.meanLocalHealthHealthy = meanHealth(healthyLive)
        report.meanLocalHealthSlow = meanHealth(slowLive)
        report.network = sim.stats
        report.violations = sim.violations
        return report
    }

    /// Crashes `victim` and returns how long until the first member, and until every live member, saw it dead.
    private static func detect(_ victim: BrokerId, in sim: GossipSimulation, _ limit: Int64) -> (Int64?, Int64?) {
        let crashedAt = sim.now
        let from = sim.events.count
        sim.crash(victim)
        let all = sim.run(until: crashedAt + limit) { $0.allSeeDead(victim) }
        let first = sim.events[from...].first { $0.subject == victim && $0.to == .dead }
        return (first.map { $0.time - crashedAt }, all.map { $0 - crashedAt })
    }
}

extension ScenarioReport: CustomStringConvertible {
    public var description: String {
        func s(_ ms: Int64?) -> String {
            guard let ms else { return "not reached" }
            return "\(ms / 1000).\(String(ms % 1000 / 10 + 100).dropFirst()) s"
        }
        func f(_ x: Double) -> String {
            let hundredths = Int(x * 100 + 0.5)
            return "\(hundredths / 100).\(String(hundredths % 100 + 100).dropFirst())"
        }
        return """
            lifeguard \(options.settings.lifeguard), \(options.members) members + 1 joining, seed \(seed)
              initial convergence             \(s(initialConvergenceMillis))
              join convergence (one more)     \(s(joinConvergenceMillis))
              clean crash detection           first \(s(cleanDetectionFirstMillis)), all \
            \(s(cleanDetectionAllMillis)); false positives \(cleanFalsePositives)
              faulty phase                    \(s(faultyMillis)) at \(Int(lossRate * 100 + 0.5))% loss, \
            \(slowMembers.count) slow members \(slowMembers)
              faulty crash detection          first \(s(faultyDetectionFirstMillis)), all \
            \(s(faultyDetectionAllMillis))
              false suspicions of healthy     \(falseSuspicions) declarations, \(falseSuspicionEpisodes) episodes, \
            \(healthyMembersFalselySuspected) members
              false deaths of healthy         \(falseDeaths) declarations, \(falseDeathEpisodes) episodes
              suspicions/deaths of slow       \(slowMemberSuspicions) / \(slowMemberDeaths) declarations
              mean LHM healthy / slow         \(f(meanLocalHealthHealthy)) / \(f(meanLocalHealthSlow))
              network                         \(network)
              violations                      \(violations.isEmpty ? "none" : violations.joined(separator: "; "))
            """
    }
}
