/// Settings of one member. Times are milliseconds of the injected clock. Defaults follow the papers and
/// memberlist's LAN profile: a 1 s protocol period, a 500 ms ping timeout, k = 3, α = 5, β = 6, K = 3, S = 8.
public struct SWIMSettings: Hashable, Sendable, CustomStringConvertible {
    /// SWIM's protocol period T': one probe per period. Lifeguard scales it by (LHM + 1).
    public var probeIntervalMillis: Int64 = 1000
    /// How long a direct ping waits for its ack before the indirect probes go out. Scaled by (LHM + 1).
    public var pingTimeoutMillis: Int64 = 500
    /// SWIM's k: members asked to probe the target indirectly (ping-req) after a direct ping timed out.
    public var indirectProbeCount = 3
    /// Lifeguard's α: the minimum suspicion timeout is α · log10(n) · probe interval.
    public var suspicionAlpha = 5.0
    /// Lifeguard's β: the maximum suspicion timeout is β times the minimum.
    public var suspicionBeta = 6.0
    /// Lifeguard's K: independent confirmations that bring the suspicion timeout down to its minimum.
    public var suspicionConfirmations = 3
    /// λ: an update is piggybacked at most λ · ⌈log10(n + 1)⌉ times (SWIM §4.1, memberlist's retransmit mult).
    public var retransmitMultiplier = 4
    /// Lifeguard's S: the Local Health Multiplier saturates at this value.
    public var maxLocalHealth = 8
    /// A relay sends its nack when the target has not answered within this fraction of the ping timeout, so
    /// that the nack reaches the prober before its period ends (Lifeguard §IV-A suggests 80%).
    public var nackTimeoutRatio = 0.8
    /// Lifeguard on (LHM, nacks, suspicion that shrinks with confirmations, buddy system) or plain SWIM (a fixed
    /// suspicion timeout of the minimum, no nacks, a constant probe interval). Off only to compare.
    public var lifeguard = true
    /// Piggybacked gossip stops at about this many bytes per message, so one message fits one datagram.
    public var maxPacketBytes = 1400
    /// The membership snapshot answering a join or sync request stops at about this many bytes; a larger
    /// cluster sends a random subset and the rest arrives by later syncs and gossip.
    public var maxJoinReplyBytes = 60_000
    /// Every this many milliseconds, ask one random live member for its membership (a pull over the same
    /// datagrams), to repair what bounded dissemination missed; after a reply that brought news, again five
    /// periods later. 0 turns it off.
    public var syncIntervalMillis: Int64 = 30_000
    /// Every this many protocol periods, ping one random dead member carrying its death notice, so that a member
    /// wrongly declared dead (a healed partition) hears it and refutes. 0 turns it off.
    public var deadProbePeriods = 5
    /// Dead and left members are forgotten after this long.
    public var deadMemberRetentionMillis: Int64 = 600_000

    public init() {}

    public init(lifeguard: Bool) { self.lifeguard = lifeguard }

    /// Lifeguard's minimum suspicion timeout for `members` (n, counting this member): α · log10(n) · interval,
    /// with log10(n) floored at 1 so that a tiny cluster still waits several periods.
    public func suspicionTimeoutMin(members: Int) -> Int64 {
        let scale = max(1.0, SWIMMath.log10(Double(max(members, 1))))
        return Int64(suspicionAlpha * scale * Double(probeIntervalMillis))
    }

    /// Lifeguard's maximum suspicion timeout: β · min. Plain SWIM uses the minimum only.
    public func suspicionTimeoutMax(members: Int) -> Int64 {
        guard lifeguard else { return suspicionTimeoutMin(members: members) }
        return Int64(suspicionBeta * Double(suspicionTimeoutMin(members: members)))
    }

    /// The suspicion timeout after `confirmations` independent confirmations (Lifeguard §IV-B):
    /// max(min, max − (max − min) · log(C + 1) / log(K + 1)). K is capped at n − 2 (the members other than the
    /// suspect and the first suspecter); when nobody could confirm, the minimum applies at once.
    public func suspicionTimeout(members: Int, confirmations: Int) -> Int64 {
        let lower = suspicionTimeoutMin(members: members)
        guard lifeguard else { return lower }
        let upper = suspicionTimeoutMax(members: members)
        let expected = min(suspicionConfirmations, members - 2)
        guard expected >= 1 else { return lower }
        let fraction = SWIMMath.ln(Double(max(confirmations, 0) + 1)) / SWIMMath.ln(Double(expected + 1))
        let timeout = Double(upper) - Double(upper - lower) * fraction
        // Int64(_:) truncates: the timeout is positive, so that is the floor (and needs no libm).
        return max(lower, Int64(timeout))
    }

    /// How many times one update is piggybacked: λ · ⌈log10(n + 1)⌉.
    public func retransmitLimit(members: Int) -> Int {
        let scale = SWIMMath.log10(Double(max(members, 1) + 1))
        let ceiling = Double(Int(scale)) < scale ? Int(scale) + 1 : Int(scale)
        return retransmitMultiplier * ceiling
    }

    public var description: String {
        "SWIMSettings(lifeguard: \(lifeguard), probeIntervalMillis: \(probeIntervalMillis), "
            + "pingTimeoutMillis: \(pingTimeoutMillis), indirectProbeCount: \(indirectProbeCount), "
            + "suspicionAlpha: \(suspicionAlpha), suspicionBeta: \(suspicionBeta), "
            + "suspicionConfirmations: \(suspicionConfirmations), retransmitMultiplier: \(retransmitMultiplier), "
            + "maxLocalHealth: \(maxLocalHealth), nackTimeoutRatio: \(nackTimeoutRatio), "
            + "maxPacketBytes: \(maxPacketBytes), maxJoinReplyBytes: \(maxJoinReplyBytes), "
            + "syncIntervalMillis: \(syncIntervalMillis), deadProbePeriods: \(deadProbePeriods), "
            + "deadMemberRetentionMillis: \(deadMemberRetentionMillis))"
    }
}

/// Logarithms computed here rather than by the C library: the core imports nothing but SkeinModel, and timeouts
/// come out bit-identical on every platform, so a seed replays the same run everywhere.
enum SWIMMath {
    private static let ln2 = 0.693_147_180_559_945_3
    private static let ln10 = 2.302_585_092_994_046

    /// Natural logarithm of a positive, normal `x`: x = m · 2^e, ln x = e · ln 2 + 2 · atanh((m − 1)/(m + 1)).
    static func ln(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite, "ln of \(x)")
        var e = Double(x.exponent)
        var m = x.significand
        // m in [1/√2, √2) keeps |z| ≤ 0.172, so the series converges in about a dozen terms.
        if m > 1.414_213_562_373_095 {
            m /= 2
            e += 1
        }
        let z = (m - 1) / (m + 1)
        let z2 = z * z
        var power = z
        var sum = 0.0
        var n = 1.0
        while true {
            let term = power / n
            if term.magnitude < 1e-18 { break }
            sum += term
            power *= z2
            n += 2
        }
        return e * ln2 + 2 * sum
    }

    /// Snapped to an integer within 1e-12, so that powers of ten come out exact and ⌈log10(n + 1)⌉ does not
    /// jump a step on rounding noise.
    static func log10(_ x: Double) -> Double {
        let r = ln(x) / ln10
        let nearest = Double(Int(r < 0 ? r - 0.5 : r + 0.5))
        return (r - nearest).magnitude < 1e-12 ? nearest : r
    }
}
