import SkeinGossip
import SkeinGossipSimulation

// The cluster-sized scenario, with and without Lifeguard on the same seed:
//   swift run -c release gossip-sim [members] [seed] [slow members] [loss percent] [faulty seconds]
let arguments = CommandLine.arguments.dropFirst().map { Int($0) }
func argument(_ i: Int, _ fallback: Int) -> Int { i < arguments.count ? arguments[i] ?? fallback : fallback }

var plan = GossipScenario.Plan()
plan.members = argument(0, 200)
let seed = UInt64(argument(1, 1))
plan.slowMembers = argument(2, 10)
plan.lossRate = Double(argument(3, 10)) / 100
plan.faultyMillis = Int64(argument(4, 120)) * 1000

let clock = ContinuousClock()
for lifeguard in [true, false] {
    plan.lifeguard = lifeguard
    let started = clock.now
    let report = GossipScenario.run(plan, seed: seed)
    print(report)
    print("  wall time                       \(clock.now - started)\n")
}
