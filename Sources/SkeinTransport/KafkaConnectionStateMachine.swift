/// The protocol logic of one Kafka connection, without I/O: requests are numbered as they arrive, may be
/// handled concurrently, and their responses leave strictly in arrival order (Kafka clients match responses
/// by order as well as by correlation id). Reading pauses while too many requests are in flight, so a client
/// that pipelines faster than the node answers cannot make it buffer without bound.
///
/// The channel handler feeds events in and carries out the returned actions (the shape of swift-nio's
/// `NIOTypedHTTPServerUpgraderStateMachine`).
public struct KafkaConnectionStateMachine: Sendable {
    public struct Configuration: Sendable {
        /// Requests in flight (received, response not yet written) at which reading pauses.
        public var maxInFlightRequests: Int
        public init(maxInFlightRequests: Int = 32) {
            self.maxInFlightRequests = max(1, maxInFlightRequests)
        }
    }

    public enum State: Equatable, Sendable {
        case active
        /// The client closed its side, or a request asked to close: finish what came before, then close.
        case draining(reason: String)
        case closed
    }

    /// An action for the handler to carry out, in order.
    public enum Action: Equatable, Sendable {
        case write(sequence: UInt64)
        case flush
        case pauseReading
        case resumeReading
        case close(reason: String)
    }

    public private(set) var state: State = .active
    private let configuration: Configuration
    private var nextSequence: UInt64 = 0
    private var nextToWrite: UInt64 = 0
    /// Completed requests waiting for those before them: sequence -> whether a response is to be written.
    private var completed: [UInt64: Completion] = [:]
    private var readingPaused = false

    private enum Completion {
        case write, skip, close(String)
    }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Requests received whose responses have not been written or skipped yet.
    public var inFlight: Int { Int(nextSequence - nextToWrite) }
    public var isReadingPaused: Bool { readingPaused }

    /// A request frame arrived. Returns its sequence number, or nil when the connection no longer takes
    /// requests (draining or closed: the frame is dropped).
    public mutating func requestReceived() -> (sequence: UInt64, actions: [Action])? {
        guard case .active = state else { return nil }
        let sequence = nextSequence
        nextSequence += 1
        var actions: [Action] = []
        if !readingPaused && inFlight >= configuration.maxInFlightRequests {
            readingPaused = true
            actions.append(.pauseReading)
        }
        return (sequence, actions)
    }

    /// A request's handling finished. Returns the writes now possible (in sequence order) and what follows.
    public mutating func requestCompleted(sequence: UInt64, writesResponse: Bool) -> [Action] {
        complete(sequence, writesResponse ? .write : .skip)
    }

    /// A request's handling asked to close the connection.
    public mutating func requestFailed(sequence: UInt64, reason: String) -> [Action] {
        complete(sequence, .close(reason))
    }

    private mutating func complete(_ sequence: UInt64, _ completion: Completion) -> [Action] {
        guard state != .closed, sequence >= nextToWrite, sequence < nextSequence, completed[sequence] == nil else {
            return []
        }
        completed[sequence] = completion
        var actions: [Action] = []
        var wrote = false
        while let next = completed.removeValue(forKey: nextToWrite) {
            switch next {
            case .write:
                actions.append(.write(sequence: nextToWrite))
                wrote = true
            case .skip:
                break
            case .close(let reason):
                if wrote { actions.append(.flush) }
                nextToWrite += 1
                state = .closed
                completed.removeAll()
                actions.append(.close(reason: reason))
                return actions
            }
            nextToWrite += 1
        }
        if wrote { actions.append(.flush) }
        if readingPaused, case .active = state, inFlight < configuration.maxInFlightRequests {
            readingPaused = false
            actions.append(.resumeReading)
        }
        if case .draining(let reason) = state, inFlight == 0 {
            state = .closed
            actions.append(.close(reason: reason))
        }
        return actions
    }

    /// The client closed its sending side (or the frame stream broke): answer what is in flight, then close.
    public mutating func inputClosed(reason: String) -> [Action] {
        switch state {
        case .active:
            if inFlight == 0 {
                state = .closed
                return [.close(reason: reason)]
            }
            state = .draining(reason: reason)
            return []
        case .draining, .closed:
            return []
        }
    }

    /// The channel went away: nothing more will be written.
    public mutating func channelClosed() {
        state = .closed
        completed.removeAll()
    }
}
