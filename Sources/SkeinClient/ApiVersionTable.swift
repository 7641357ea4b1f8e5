import KafkaWire

/// The API versions a broker advertised in ApiVersions, and the choice of a version per request: the highest
/// that both the broker serves and the generated codec knows (recent versions are the flexible ones).
public struct ApiVersionTable: Sendable, Equatable {
    /// Served version ranges by raw API key.
    public var ranges: [Int16: ClosedRange<Int16>]

    public init(ranges: [Int16: ClosedRange<Int16>]) { self.ranges = ranges }

    public init(_ response: ApiVersionsResponse) {
        var ranges: [Int16: ClosedRange<Int16>] = [:]
        for k in response.apiKeys where k.minVersion <= k.maxVersion {
            ranges[k.apiKey] = k.minVersion...k.maxVersion
        }
        self.init(ranges: ranges)
    }

    /// The version the client knows for a request type: its valid versions without an unstable latest one,
    /// which a Kafka broker only serves with `unstable.api.versions.enable`.
    public static func clientVersions<R: KafkaRequest>(_ type: R.Type) -> ClosedRange<Int16> {
        let v = R.validVersions
        if R.latestVersionUnstable && v.upperBound > v.lowerBound { return v.lowerBound...(v.upperBound - 1) }
        return v
    }

    /// The highest common version, or nil when the broker does not serve the API or the ranges do not meet.
    public func version<R: KafkaRequest>(for type: R.Type, atMost cap: Int16 = .max) -> Int16? {
        guard let served = ranges[R.apiKey.rawValue] else { return nil }
        let client = Self.clientVersions(type)
        let high = min(served.upperBound, client.upperBound, cap)
        let low = max(served.lowerBound, client.lowerBound)
        return low <= high ? high : nil
    }

    public func serves(_ key: ApiKey) -> Bool { ranges[key.rawValue] != nil }
}
