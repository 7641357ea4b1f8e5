/// A seeded, deterministic random number generator (xoshiro256**, seeded through SplitMix64).
/// Pure cores take one of these instead of calling global randomness, so that a seed replays a run.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    /// The seed this generator started from, for transcripts that replay a failing run.
    public let seed: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        var sm = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(&sm); s1 = splitMix(&sm); s2 = splitMix(&sm); s3 = splitMix(&sm)
    }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }
}

/// Time as pure cores see it: injected, never read from the wall clock inside a core.
public protocol Clock: Sendable {
    /// Milliseconds since the Unix epoch, as Kafka timestamps are.
    var nowMillis: Int64 { get }
    /// A monotonic reading in nanoseconds, for timeouts and durations.
    var monotonicNanos: UInt64 { get }
}

/// A clock that only moves when told to: for tests and simulations.
public struct ManualClock: Clock {
    public var nowMillis: Int64
    public var monotonicNanos: UInt64
    public init(nowMillis: Int64 = 1_700_000_000_000, monotonicNanos: UInt64 = 0) {
        self.nowMillis = nowMillis
        self.monotonicNanos = monotonicNanos
    }
    public mutating func advance(millis: Int64) {
        nowMillis += millis
        monotonicNanos += UInt64(millis) * 1_000_000
    }
}
