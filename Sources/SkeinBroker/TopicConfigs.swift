import SkeinModel
import SkeinStorage

/// Topic-level configs: Kafka's names, defaults and value checks, and their mapping onto `LogConfig`.
enum TopicConfigs {
    enum Kind {
        case long(min: Int64), int(min: Int64), double(min: Double, max: Double), bool
        case choice([String]), list([String]), string
    }

    struct Definition {
        let name: String
        let defaultValue: String
        let kind: Kind
    }

    /// The topic configs Kafka defines (KafkaConfig/LogConfig at 3.9), with their defaults.
    static let definitions: [Definition] = [
        .init(name: "cleanup.policy", defaultValue: "delete", kind: .list(["delete", "compact"])),
        // Confluent Server's broker-side schema validation (TopicNameStrategy): keys or values must carry the id
        // of a schema registered under `<topic>-key` / `<topic>-value`.
        .init(name: "confluent.key.schema.validation", defaultValue: "false", kind: .bool),
        .init(name: "confluent.value.schema.validation", defaultValue: "false", kind: .bool),
        .init(
            name: "compression.type", defaultValue: "producer",
            kind: .choice(["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"])),
        .init(name: "delete.retention.ms", defaultValue: "86400000", kind: .long(min: 0)),
        .init(name: "file.delete.delay.ms", defaultValue: "60000", kind: .long(min: 0)),
        .init(name: "flush.messages", defaultValue: "9223372036854775807", kind: .long(min: 1)),
        .init(name: "flush.ms", defaultValue: "9223372036854775807", kind: .long(min: 0)),
        .init(name: "index.interval.bytes", defaultValue: "4096", kind: .int(min: 0)),
        .init(name: "max.compaction.lag.ms", defaultValue: "9223372036854775807", kind: .long(min: 1)),
        .init(name: "max.message.bytes", defaultValue: "1048588", kind: .int(min: 0)),
        // Deprecated in Kafka 3.x and without effect there from message format v2 on (inter.broker.protocol.version
        // 3.0+), but still accepted: librdkafka's tests and older tools set them.
        .init(name: "message.downconversion.enable", defaultValue: "true", kind: .bool),
        .init(name: "message.format.version", defaultValue: "3.0-IV1", kind: .string),
        .init(name: "message.timestamp.after.max.ms", defaultValue: "9223372036854775807", kind: .long(min: 0)),
        .init(name: "message.timestamp.before.max.ms", defaultValue: "9223372036854775807", kind: .long(min: 0)),
        .init(
            name: "message.timestamp.type", defaultValue: "CreateTime", kind: .choice(["CreateTime", "LogAppendTime"])),
        .init(name: "min.cleanable.dirty.ratio", defaultValue: "0.5", kind: .double(min: 0, max: 1)),
        .init(name: "min.compaction.lag.ms", defaultValue: "0", kind: .long(min: 0)),
        .init(name: "min.insync.replicas", defaultValue: "1", kind: .int(min: 1)),
        .init(name: "preallocate", defaultValue: "false", kind: .bool),
        .init(name: "retention.bytes", defaultValue: "-1", kind: .long(min: -1)),
        .init(name: "retention.ms", defaultValue: "604800000", kind: .long(min: -1)),
        .init(name: "segment.bytes", defaultValue: "1073741824", kind: .int(min: 14)),
        .init(name: "segment.index.bytes", defaultValue: "10485760", kind: .int(min: 4)),
        .init(name: "segment.jitter.ms", defaultValue: "0", kind: .long(min: 0)),
        .init(name: "segment.ms", defaultValue: "604800000", kind: .long(min: 1)),
        .init(name: "unclean.leader.election.enable", defaultValue: "false", kind: .bool),
    ]

    static let byName: [String: Definition] = Dictionary(uniqueKeysWithValues: definitions.map { ($0.name, $0) })

    /// Checks names and values; returns the log settings they imply.
    static func validate(_ configs: [String: String]) throws -> LogConfig {
        for (name, value) in configs {
            guard let d = byName[name] else {
                throw TopicError(code: .invalidConfig, message: "Unknown topic config name: \(name)")
            }
            func bad(_ why: String) -> TopicError {
                TopicError(code: .invalidConfig, message: "Invalid value \(value) for configuration \(name): \(why)")
            }
            switch d.kind {
            case .long(let min), .int(let min):
                guard let n = Int64(value.trimmingCharacters(in: .whitespaces)) else {
                    throw bad("Not a number of type \(d.kindName)")
                }
                guard n >= min else { throw bad("Value must be at least \(min)") }
                if case .int = d.kind, n > Int64(Int32.max) { throw bad("Not a number of type INT") }
            case .double(let lo, let hi):
                guard let x = Double(value) else { throw bad("Not a number of type DOUBLE") }
                guard x >= lo && x <= hi else { throw bad("Value must be between \(lo) and \(hi)") }
            case .bool:
                guard ["true", "false"].contains(value.lowercased()) else {
                    throw bad("Expected value to be either true or false")
                }
            case .choice(let options):
                guard options.contains(value) else {
                    throw bad("String must be one of: \(options.joined(separator: ", "))")
                }
            case .list(let options):
                let items = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard !items.isEmpty, items.allSatisfy(options.contains) else {
                    throw bad("String must be one of: \(options.joined(separator: ", "))")
                }
            case .string:
                break
            }
            // Recompressing batches to a topic-level codec is not implemented: refuse rather than ignore it.
            if name == "compression.type" && value != "producer" {
                throw TopicError(
                    code: .invalidConfig,
                    message:
                        "Invalid value \(value) for configuration compression.type: only 'producer' (keep the producer's codec) is supported so far"
                )
            }
        }
        return logConfig(configs)
    }

    /// The value of a config for a topic: its own setting or Kafka's default.
    static func value(_ name: String, in configs: [String: String]) -> String? {
        configs[name] ?? byName[name]?.defaultValue
    }

    static func logConfig(_ configs: [String: String]) -> LogConfig {
        func long(_ n: String) -> Int64 { Int64(value(n, in: configs) ?? "") ?? 0 }
        var c = LogConfig()
        c.segmentBytes = Int(long("segment.bytes"))
        c.segmentMs = long("segment.ms")
        c.retentionMs = long("retention.ms")
        c.retentionBytes = long("retention.bytes")
        c.indexIntervalBytes = Int(long("index.interval.bytes"))
        c.maxMessageBytes = Int(long("max.message.bytes"))
        if long("flush.messages") == 1 {
            c.fsyncPolicy = .everyAppend
        } else if long("flush.ms") < Int64.max {
            c.fsyncPolicy = .interval(ms: long("flush.ms"))
        }
        return c
    }
}

extension TopicConfigs.Definition {
    var kindName: String {
        switch kind {
        case .long: return "LONG"
        case .int: return "INT"
        case .double: return "DOUBLE"
        case .bool: return "BOOLEAN"
        case .choice, .string: return "STRING"
        case .list: return "LIST"
        }
    }
}
