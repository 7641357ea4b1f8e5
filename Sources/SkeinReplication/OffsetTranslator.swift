import SkeinRaft

/// Raft indices and Kafka offsets of one replica (as Redpanda's offset translator keeps them apart).
///
/// A partition's Raft log holds two kinds of entries: record batches that clients produced (and the transaction
/// markers Kafka itself writes), which take Kafka offsets, and entries Raft needs for itself (a new leader's
/// no-op, a voter change, a log-start move), which take one Raft index each and no Kafka offset. The translator
/// holds the Raft index of every such internal entry with the Kafka offset the next record had when it was
/// appended. Between two internal entries both spaces advance together, so
///
///     kafka(r) = m.kafka + (r - m.raft - 1)   for the last internal entry m below r (r itself when none).
///
/// Invariants (checked by `append`): internal entries are in ascending Raft order, and for consecutive m1, m2:
/// `m2.kafka - m1.kafka == m2.raft - m1.raft - 1` (the data between them is dense). So Kafka offsets are dense from
/// 0, whatever Raft did: elections, transfers, voter changes and log-start moves move none.
public struct OffsetTranslator: Hashable, Sendable {
    public struct Mark: Hashable, Sendable {
        /// The internal entry's Raft index.
        public var raft: Int64
        /// The Kafka offset of the first data record after it (the Kafka log end when it was appended).
        public var kafka: Int64
        public init(raft: Int64, kafka: Int64) {
            self.raft = raft
            self.kafka = kafka
        }
    }

    public private(set) var marks: [Mark] = []

    public init(marks: [Mark] = []) {
        for m in marks {
            precondition(canAppend(m), "inconsistent internal entries: \(m) after \(self.marks)")
            self.marks.append(m)
        }
    }

    /// The last mark strictly below Raft index `r`.
    private func lastMark(below r: Int64) -> Mark? {
        var lo = 0
        var hi = marks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if marks[mid].raft < r { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : marks[lo - 1]
    }

    /// The Kafka offset of the first data record at or after Raft index `r`: a data record's own offset, or for
    /// an internal entry (or the end of the log) the offset the next record gets.
    public func kafkaOffset(atRaft r: Int64) -> Int64 {
        guard let m = lastMark(below: r) else { return r }
        return m.kafka + (r - m.raft - 1)
    }

    /// The Raft index of the data record at Kafka offset `k`.
    public func raftIndex(ofKafka k: Int64) -> Int64 {
        // The last mark whose next record is at or below k: k is after it and before the next one.
        var lo = 0
        var hi = marks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if marks[mid].kafka <= k { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return k }
        let m = marks[lo - 1]
        return m.raft + 1 + (k - m.kafka)
    }

    /// Whether Raft index `r` is an internal entry.
    public func isInternal(_ r: Int64) -> Bool {
        guard let m = lastMark(below: r + 1) else { return false }
        return m.raft == r
    }

    /// The last Raft index of a log whose data ends before Kafka offset `kafkaEnd` (-1 for an empty one).
    public func raftEnd(kafkaEnd: Int64) -> Int64 {
        let lastData = kafkaEnd > 0 ? raftIndex(ofKafka: kafkaEnd - 1) : -1
        return max(lastData, marks.last?.raft ?? -1)
    }

    /// Whether `mark` may follow the marks held: after the last one, consistent with the Kafka offsets between.
    public func canAppend(_ mark: Mark) -> Bool {
        guard let last = marks.last else { return mark.raft >= 0 && mark.kafka >= 0 && mark.kafka <= mark.raft }
        return mark.raft > last.raft && mark.kafka == last.kafka + (mark.raft - last.raft - 1)
    }

    /// Records an internal entry at Raft index `raft` (after every mark held): returns false (and changes
    /// nothing) when that is inconsistent with them.
    @discardableResult
    public mutating func append(raft: Int64) -> Bool {
        let mark = Mark(raft: raft, kafka: kafkaOffset(atRaft: raft))
        guard canAppend(mark) else { return false }
        marks.append(mark)
        return true
    }

    /// Forgets the internal entries at or after Raft index `r` (a log cut there).
    public mutating func truncate(fromRaft r: Int64) {
        while let last = marks.last, last.raft >= r { marks.removeLast() }
    }
}
