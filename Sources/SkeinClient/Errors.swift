import KafkaWire
import SkeinModel

/// An error a broker answered with: Kafka's error code, the broker's message if it sent one, and what it was about.
public struct KafkaError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: KafkaErrorCode
    /// The raw code as sent, kept because a newer broker may send a code `KafkaErrorCode` does not know.
    public var rawCode: Int16
    public var message: String?
    /// The topic or partition the error concerns, e.g. "orders" or "orders-3".
    public var resource: String?

    public init(rawCode: Int16, message: String? = nil, resource: String? = nil) {
        self.rawCode = rawCode
        self.code = KafkaErrorCode(rawValue: rawCode) ?? .unknownServerError
        self.message = message
        self.resource = resource
    }

    public init(_ code: KafkaErrorCode, message: String? = nil, resource: String? = nil) {
        self.init(rawCode: code.rawValue, message: message, resource: resource)
    }

    /// Throws unless `rawCode` is NONE.
    static func check(_ rawCode: Int16, message: String? = nil, resource: String? = nil) throws {
        if rawCode != 0 { throw KafkaError(rawCode: rawCode, message: message, resource: resource) }
    }

    /// Errors that a metadata refresh and another attempt may cure (Kafka's RetriableException family).
    public var isRetriable: Bool {
        switch code {
        case .notLeaderOrFollower, .leaderNotAvailable, .unknownTopicOrPartition, .requestTimedOut,
            .networkException, .notEnoughReplicas, .notEnoughReplicasAfterAppend, .fencedLeaderEpoch,
            .unknownLeaderEpoch, .kafkaStorageError, .notController, .unknownTopicId:
            return true
        default:
            return false
        }
    }

    /// One line: `TOPIC_ALREADY_EXISTS (36) for orders: Topic 'orders' already exists.`
    public var description: String {
        let name = KafkaErrorCode(rawValue: rawCode)?.name ?? "UNKNOWN_ERROR_CODE"
        var s = "\(name) (\(rawCode))"
        if let resource { s += " for \(resource)" }
        if let message, !message.isEmpty { s += ": \(message)" }
        return s
    }
}

/// Failures on the client's side of the wire: connecting, timing out, or a broker that lacks an API.
public enum KafkaClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No broker of the bootstrap list (or the metadata) accepted a connection.
    case connectionFailed(broker: String, reason: String)
    /// The connection closed while requests were in flight.
    case connectionClosed(broker: String)
    /// No response within the request timeout.
    case timedOut(api: String, broker: String)
    /// The broker does not serve the API, or no version of it that this client can speak.
    case unsupportedApi(ApiKey, broker: String)
    /// A response that does not decode, or that does not answer what was asked.
    case protocolViolation(String)
    /// A bad argument, such as an unknown partition or a malformed bootstrap address.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .connectionFailed(let b, let r): return "cannot connect to \(b): \(r)"
        case .connectionClosed(let b): return "connection to \(b) closed"
        case .timedOut(let api, let b): return "\(api) request to \(b) timed out"
        case .unsupportedApi(let key, let b): return "broker \(b) does not serve \(key.name)"
        case .protocolViolation(let s): return "protocol violation: \(s)"
        case .invalidArgument(let s): return s
        }
    }
}
