/// The in-memory Raft log of one replica: a log start (snapshot point) and the contiguous entries after it.
/// `entries[k].index == start.index + 1 + k`.
public struct RaftLog: Hashable, Sendable {
    /// Entries at or below `start.index` are gone; `start.term` is the term of the entry at `start.index`.
    public private(set) var start: LogPosition
    public private(set) var entries: [LogEntry]

    public init(start: LogPosition = .empty, entries: [LogEntry] = []) {
        for (k, e) in entries.enumerated() {
            precondition(e.index == start.index + 1 + Int64(k), "log entries must be contiguous after the start")
        }
        self.start = start
        self.entries = entries
    }

    public var lastIndex: Int64 { start.index + Int64(entries.count) }
    public var lastTerm: Int64 { entries.last?.term ?? start.term }
    public var last: LogPosition { LogPosition(index: lastIndex, term: lastTerm) }

    /// The term at `index`, or nil when it is below the start or past the end.
    public func term(at index: Int64) -> Int64? {
        if index == start.index { return start.term }
        guard index > start.index, index <= lastIndex else { return nil }
        return entries[Int(index - start.index - 1)].term
    }

    public func entry(at index: Int64) -> LogEntry? {
        guard index > start.index, index <= lastIndex else { return nil }
        return entries[Int(index - start.index - 1)]
    }

    /// Entries from `from` through `through` (clamped to what the log holds), at most `limit` of them.
    public func entries(from: Int64, through: Int64, limit: Int = .max) -> [LogEntry] {
        let lo = max(from, start.index + 1)
        let hi = min(through, lastIndex)
        guard lo <= hi else { return [] }
        let a = Int(lo - start.index - 1)
        let b = Int(hi - start.index - 1)
        if limit <= b - a { return Array(entries[a..<(a + limit)]) }
        return Array(entries[a...b])
    }

    /// Raft's "at least as up-to-date" comparison (§5.4.1): higher last term wins, then the longer log.
    public func isUpToDate(_ other: LogPosition) -> Bool {
        other.term > lastTerm || (other.term == lastTerm && other.index >= lastIndex)
    }

    /// The last position at or below `index` whose term is at most `term`; nil if that falls below the start.
    /// Used by both sides of fast backtracking.
    public func lastPosition(atOrBelow index: Int64, termAtMost term: Int64) -> LogPosition? {
        var i = min(index, lastIndex)
        while i >= start.index {
            guard let t = self.term(at: i) else { return nil }
            if t <= term { return LogPosition(index: i, term: t) }
            i -= 1
        }
        return nil
    }

    mutating func append(_ entry: LogEntry) {
        precondition(entry.index == lastIndex + 1, "append must extend the log")
        entries.append(entry)
    }

    /// Drops entries from `index` on.
    mutating func truncate(from index: Int64) {
        guard index <= lastIndex else { return }
        precondition(index > start.index, "cannot truncate below the log start")
        entries.removeLast(Int(lastIndex - index + 1))
    }

    /// Replaces the whole log by an empty one starting after `position` (an installed snapshot).
    mutating func reset(to position: LogPosition) {
        start = position
        entries = []
    }

    /// Drops entries through `index`, which becomes the new start.
    mutating func compact(through index: Int64) {
        guard index > start.index, index <= lastIndex, let t = term(at: index) else { return }
        entries.removeFirst(Int(index - start.index))
        start = LogPosition(index: index, term: t)
    }
}
