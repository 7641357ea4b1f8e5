import NIOConcurrencyHelpers
import NIOCore
import SkeinModel

/// The dialing side of one peer: its address, its one outbound connection and the messages waiting for it.
/// The state is guarded by a lock (senders are on any thread); connection work runs on `eventLoop`, which is
/// the connection's.
final class OutboundPeer: Sendable {
    struct Address: Equatable, Sendable, CustomStringConvertible {
        var host: String
        var port: Int
        var description: String { "\(host):\(port)" }
    }

    struct Connection: Sendable {
        let channel: any Channel
        let handler: NIOLoopBound<RPCConnectionHandler>
        let serial: UInt64
        let since: NIODeadline
    }

    enum Phase: Sendable {
        /// No connection; the next message dials.
        case idle
        /// Dialing (TCP, TLS, identity) as connection `serial`; messages queue.
        case connecting(serial: UInt64)
        case connected(Connection)
        /// The last attempt (`serial`) failed or its connection closed; messages are dropped until the backoff
        /// ends.
        case backoff(serial: UInt64)
        case closed
    }

    struct State: Sendable {
        var address: Address?
        var phase: Phase = .idle
        var queue = CircularBuffer<OutboundMessage>()
        var queuedBytes = 0
        var drainScheduled = false
        /// Consecutive failures, for the backoff.
        var failures = 0

        var isClosed: Bool {
            if case .closed = phase { return true }
            return false
        }

        /// Queues `message`, dropping the oldest while over `maxBytes` (never the new one). Returns those
        /// dropped.
        mutating func append(_ message: OutboundMessage, maxBytes: Int) -> [OutboundMessage] {
            queue.append(message)
            queuedBytes += message.size
            var evicted: [OutboundMessage] = []
            while queuedBytes > maxBytes && queue.count > 1 {
                let oldest = queue.removeFirst()
                queuedBytes -= oldest.size
                evicted.append(oldest)
            }
            return evicted
        }

        mutating func takeQueue() -> [OutboundMessage] {
            defer {
                queue.removeAll()
                queuedBytes = 0
            }
            return Array(queue)
        }
    }

    let id: BrokerId
    let eventLoop: any EventLoop
    let state = NIOLockedValueBox(State())

    init(id: BrokerId, eventLoop: any EventLoop) {
        self.id = id
        self.eventLoop = eventLoop
    }

    /// Closes for good: returns the channel to close and the messages that will never go.
    func close() -> ((any Channel)?, [OutboundMessage]) {
        state.withLockedValue { s in
            var channel: (any Channel)?
            if case .connected(let connection) = s.phase { channel = connection.channel }
            s.phase = .closed
            return (channel, s.takeQueue())
        }
    }
}
