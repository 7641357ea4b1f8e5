/// The in-memory Raft log of one replica: a log start (snapshot point) and the contiguous entries after it.
/// Each entry covers one or more indices (`LogEntry.count`): `entries[0].index == start.index + 1` and
/// `entries[k + 1].index == entries[k].lastIndex + 1`.
public struct RaftLog: Hashable, Sendable {
    /// Entries at or below `start.index` are gone; `start.term` is the term of the entry ending at `start.index`.
    public private(set) var start: LogPosition
    public private(set) var entries: [LogEntry]
    /// The payload bytes of `entries` (what a shell keeps in memory for this log).
    public private(set) var payloadBytes: Int

    public init(start: LogPosition = .empty, entries: [LogEntry] = []) {
        var next = start.index + 1
        for e in entries {
            precondition(e.index == next, "log entries must be contiguous after the start")
            next = e.lastIndex + 1
        }
        self.start = start
        self.entries = entries
        payloadBytes = entries.reduce(0) { $0 + $1.payload.count }
    }

    public var lastIndex: Int64 { entries.last?.lastIndex ?? start.index }
    public var lastTerm: Int64 { entries.last?.term ?? start.term }
    public var last: LogPosition { LogPosition(index: lastIndex, term: lastTerm) }

    /// The position in `entries` of the entry covering `index`, or nil when it is at or below the start or past
    /// the end.
    func slot(of index: Int64) -> Int? {
        guard index > start.index, index <= lastIndex else { return nil }
        // Fast path: entries of one index each.
        let guess = Int(index - start.index - 1)
        if guess < entries.count, entries[guess].index == index, entries[guess].count == 1 { return guess }
        var lo = 0
        var hi = entries.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].lastIndex < index { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The term at `index`, or nil when it is below the start or past the end.
    public func term(at index: Int64) -> Int64? {
        if index == start.index { return start.term }
        return slot(of: index).map { entries[$0].term }
    }

    /// The entry covering `index`.
    public func entry(at index: Int64) -> LogEntry? {
        slot(of: index).map { entries[$0] }
    }

    /// Whether `index` is the log start or the last index of an entry: the only places a log may be cut.
    public func isEntryEnd(_ index: Int64) -> Bool {
        index == start.index || slot(of: index).map { entries[$0].lastIndex == index } == true
    }

    /// The end of the entry before the one covering `index` (the log start for the first entry): where a log
    /// cut at or before `index` would end.
    public func entryEnd(before index: Int64) -> Int64 {
        guard let k = slot(of: index) else { return min(index - 1, lastIndex) }
        return k == 0 ? start.index : entries[k - 1].lastIndex
    }

    /// The entries covering `from` through `through` (clamped to what the log holds), at most `limit` of them.
    public func entries(from: Int64, through: Int64, limit: Int = .max) -> [LogEntry] {
        let lo = max(from, start.index + 1)
        let hi = min(through, lastIndex)
        guard lo <= hi, let a = slot(of: lo), let b = slot(of: hi) else { return [] }
        if limit <= b - a { return Array(entries[a..<(a + limit)]) }
        return Array(entries[a...b])
    }

    /// Raft's "at least as up-to-date" comparison (§5.4.1): higher last term wins, then the longer log.
    public func isUpToDate(_ other: LogPosition) -> Bool {
        other.term > lastTerm || (other.term == lastTerm && other.index >= lastIndex)
    }

    /// The last entry end at or below `index` whose term is at most `term`; nil if that falls below the start.
    /// Used by both sides of fast backtracking.
    public func lastPosition(atOrBelow index: Int64, termAtMost term: Int64) -> LogPosition? {
        guard index >= start.index else { return nil }
        var k = index >= lastIndex ? entries.count - 1 : (slot(of: index).map { $0 - 1 } ?? -1)
        if let s = slot(of: index), entries[s].lastIndex == index { k = s }
        while k >= 0 {
            if entries[k].term <= term { return entries[k].position }
            k -= 1
        }
        return start.term <= term ? start : nil
    }

    mutating func append(_ entry: LogEntry) {
        precondition(entry.index == lastIndex + 1, "append must extend the log")
        entries.append(entry)
        payloadBytes += entry.payload.count
    }

    /// Drops the entries from `index` on; `index` must start an entry.
    mutating func truncate(from index: Int64) {
        guard index <= lastIndex else { return }
        precondition(index > start.index, "cannot truncate below the log start")
        let k = slot(of: index)!
        precondition(entries[k].index == index, "cannot cut an entry in two")
        payloadBytes -= entries[k...].reduce(0) { $0 + $1.payload.count }
        entries.removeLast(entries.count - k)
    }

    /// Replaces the whole log by an empty one starting after `position` (an installed snapshot).
    mutating func reset(to position: LogPosition) {
        start = position
        entries = []
        payloadBytes = 0
    }

    /// Drops the entries ending at or below `index`; the last of them becomes the new start.
    mutating func compact(through index: Int64) {
        guard index > start.index else { return }
        let k =
            index >= lastIndex ? entries.count : slot(of: index).map { entries[$0].lastIndex == index ? $0 + 1 : $0 }!
        guard k > 0 else { return }
        start = entries[k - 1].position
        payloadBytes -= entries[..<k].reduce(0) { $0 + $1.payload.count }
        entries.removeFirst(k)
    }
}
