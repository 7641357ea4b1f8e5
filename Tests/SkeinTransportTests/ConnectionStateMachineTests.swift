import SkeinModel
import SkeinTransport
import Testing

@Suite struct ConnectionStateMachineTests {
    typealias Machine = KafkaConnectionStateMachine

    struct Refused: Error {}

    /// `requestReceived` on a machine that must accept the request.
    func receive(_ m: inout Machine) throws -> (sequence: UInt64, actions: [Machine.Action]) {
        guard let r = m.requestReceived() else { throw Refused() }
        return r
    }

    @Test func responsesLeaveInRequestOrder() throws {
        var m = Machine()
        let a = try receive(&m).sequence
        let b = try receive(&m).sequence
        let c = try receive(&m).sequence
        #expect(m.requestCompleted(sequence: c, writesResponse: true) == [])
        #expect(m.requestCompleted(sequence: b, writesResponse: true) == [])
        #expect(
            m.requestCompleted(sequence: a, writesResponse: true) == [
                .write(sequence: a), .write(sequence: b), .write(sequence: c), .flush,
            ])
        #expect(m.inFlight == 0)
    }

    @Test func acksZeroLeavesNoGap() throws {
        var m = Machine()
        let a = try receive(&m).sequence
        let b = try receive(&m).sequence
        #expect(m.requestCompleted(sequence: b, writesResponse: true) == [])
        #expect(m.requestCompleted(sequence: a, writesResponse: false) == [.write(sequence: b), .flush])
    }

    @Test func readingPausesAndResumes() throws {
        var m = Machine(configuration: .init(maxInFlightRequests: 2))
        let a = try receive(&m)
        #expect(a.actions == [])
        let b = try receive(&m)
        #expect(b.actions == [.pauseReading])  // the limit is reached
        #expect(m.isReadingPaused)
        // A frame already buffered still arrives; it is accepted without a second pause.
        let c = try receive(&m)
        #expect(c.actions == [])
        #expect(
            m.requestCompleted(sequence: a.sequence, writesResponse: true) == [.write(sequence: a.sequence), .flush])
        #expect(
            m.requestCompleted(sequence: b.sequence, writesResponse: true) == [
                .write(sequence: b.sequence), .flush, .resumeReading,
            ])
        #expect(!m.isReadingPaused)
    }

    @Test func closeOutcomeWritesEarlierResponsesThenCloses() throws {
        var m = Machine()
        let a = try receive(&m).sequence
        let b = try receive(&m).sequence
        let c = try receive(&m).sequence
        #expect(m.requestFailed(sequence: b, reason: "bad") == [])
        #expect(m.requestCompleted(sequence: c, writesResponse: true) == [])
        #expect(
            m.requestCompleted(sequence: a, writesResponse: true) == [
                .write(sequence: a), .flush, .close(reason: "bad"),
            ])
        #expect(m.state == .closed)
        let refused = m.requestReceived()
        #expect(refused == nil)
    }

    @Test func inputClosedDrainsInFlight() throws {
        var m = Machine()
        let a = try receive(&m).sequence
        #expect(m.inputClosed(reason: "eof") == [])
        let refused = m.requestReceived()
        #expect(refused == nil)
        #expect(
            m.requestCompleted(sequence: a, writesResponse: true) == [
                .write(sequence: a), .flush, .close(reason: "eof"),
            ])
        var idle = Machine()
        #expect(idle.inputClosed(reason: "eof") == [.close(reason: "eof")])
    }

    @Test func staleAndDuplicateCompletionsAreIgnored() throws {
        var m = Machine()
        let a = try receive(&m).sequence
        #expect(m.requestCompleted(sequence: a, writesResponse: true) == [.write(sequence: a), .flush])
        #expect(m.requestCompleted(sequence: a, writesResponse: true) == [])
        #expect(m.requestCompleted(sequence: 99, writesResponse: true) == [])
    }

    /// Seeded runs: requests complete in random order; every response is written exactly once, in order,
    /// and reading is paused exactly while the in-flight limit is reached.
    @Test func randomCompletionOrders() throws {
        for seed in 0..<500 {
            var rng = SeededRandom(seed: UInt64(seed))
            let limit = Int.random(in: 1...6, using: &rng)
            var m = Machine(configuration: .init(maxInFlightRequests: limit))
            var open: [UInt64] = []
            var written: [UInt64] = []
            var expectedWrites: [UInt64] = []
            var received = 0
            var paused = false
            while received < 60 || !open.isEmpty {
                if received < 60 && !paused && Bool.random(using: &rng) {
                    let r = try receive(&m)
                    if r.actions.contains(.pauseReading) { paused = true }
                    open.append(r.sequence)
                    received += 1
                } else if !open.isEmpty {
                    let i = Int.random(in: 0..<open.count, using: &rng)
                    let s = open.remove(at: i)
                    let writes = Int.random(in: 0..<5, using: &rng) != 0
                    if writes { expectedWrites.append(s) }
                    for action in m.requestCompleted(sequence: s, writesResponse: writes) {
                        switch action {
                        case .write(let w): written.append(w)
                        case .resumeReading: paused = false
                        default: break
                        }
                    }
                }
                #expect(m.isReadingPaused == paused)
                #expect(m.inFlight <= limit + 1)
            }
            #expect(written == expectedWrites.sorted(), "seed \(seed)")
        }
    }
}
