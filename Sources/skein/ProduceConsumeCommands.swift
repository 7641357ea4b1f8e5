import ArgumentParser
import Foundation
import KafkaRecords
import NIOCore
import SkeinClient

/// `skein produce TOPIC`: one record per line of stdin.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce", abstract: "Produce one record per line of stdin.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "Topic name.") var topic: String
    @Option(name: [.short, .long], help: "Partition (default: by key, round-robin without keys).")
    var partition: Int32?
    @Option(name: [.short, .long], help: "Split each line at the first SEP: key before it, value after.")
    var keySeparator: String?
    @Option(name: [.customShort("H"), .long], help: "A header key=value added to every record; repeatable.")
    var header: [String] = []
    @Option(name: [.short, .long], help: "none, gzip, snappy, lz4 or zstd.") var compression: CompressionCodec = .none
    @Option(help: "0, 1 or all.") var acks: Acks = .all

    /// Records per Produce request, and the bytes at which a batch is sent early (below message.max.bytes).
    static let chunkRecords = 1000
    static let chunkBytes = 512 * 1024

    func validate() throws {
        if keySeparator == "" { throw ValidationError("--key-separator must not be empty") }
    }

    func run() async throws {
        let headers = try parseKeyValues(header, option: "--header")
        let total = try await client.withClient { c in
            var chunk: [ProducerRecord] = []
            var bytes = 0
            var total = 0
            func flush() async throws {
                guard !chunk.isEmpty else { return }
                total += try await c.produce(
                    topic: topic, partition: partition, records: chunk, acks: acks, compression: compression
                ).reduce(0) { $0 + $1.recordCount }
                chunk.removeAll(keepingCapacity: true)
                bytes = 0
            }
            while let line = readLine(strippingNewline: true) {
                var key: String?
                var value = line
                if let sep = keySeparator, let range = line.range(of: sep) {
                    key = String(line[..<range.lowerBound])
                    value = String(line[range.upperBound...])
                }
                chunk.append(ProducerRecord(key: key, value: value, headers: headers))
                bytes += line.utf8.count
                if chunk.count >= Self.chunkRecords || bytes >= Self.chunkBytes { try await flush() }
            }
            try await flush()
            return total
        }
        FileHandle.standardError.write(Data("produced \(total) records to \(topic)\n".utf8))
    }
}

/// `skein consume TOPIC`: prints records as text or JSON lines.
struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume", abstract: "Print the records of a topic.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @OptionGroup var client: ClientOptions
    @Argument(help: "Topic name.") var topic: String
    @Option(name: [.short, .long], help: "Only this partition (default: all).") var partition: Int32?
    @Flag(help: "Start at the earliest offset (default: the end, new records only).") var fromBeginning = false
    @Option(name: [.short, .long], help: "Start at this offset.") var offset: Int64?
    @Option(name: [.short, .long], help: "Stop after this many records.") var count: Int?
    @Flag(name: [.customShort("e"), .long], help: "Stop at the end of the partitions, like kcat -e.")
    var exitAtEnd = false
    @Option(name: [.short, .long], help: "text (value, or key=value) or json (one object per line).")
    var format: Format = .text
    @Option(help: "Between key and value in text output.") var keySeparator: String = "="

    func validate() throws {
        if fromBeginning && offset != nil { throw ValidationError("use either --from-beginning or --offset") }
        if let count, count < 0 { throw ValidationError("--count must not be negative") }
    }

    func run() async throws {
        let start: StartPosition = offset.map { .offset($0) } ?? (fromBeginning ? .earliest : .latest)
        try await client.withClient { c in
            var printed = 0
            if count == 0 { return }
            let stream = c.records(
                topic: topic, partitions: partition.map { [$0] }, from: start, stopAtEnd: exitAtEnd)
            for try await r in stream {
                print(format == .json ? Self.json(r) : Self.text(r, separator: keySeparator))
                fflush(nil)  // flush each record: consumers of a pipe read as we go
                printed += 1
                if let count, printed >= count { break }
            }
        }
    }

    static func text(_ r: ConsumerRecord, separator: String) -> String {
        let value = r.value.map { String(buffer: $0) } ?? ""
        guard let key = r.key else { return value }
        return String(buffer: key) + separator + value
    }

    static func json(_ r: ConsumerRecord) -> String {
        let headers = r.headers.map { "{\"key\":\(jsonString($0.key)),\"value\":\(jsonString($0.value))}" }
        return "{\"partition\":\(r.partition),\"offset\":\(r.offset),\"timestamp\":\(r.timestamp),"
            + "\"key\":\(jsonString(r.key)),\"value\":\(jsonString(r.value)),"
            + "\"headers\":[\(headers.joined(separator: ","))]}"
    }

    /// A JSON string literal of the bytes read as UTF-8 (invalid sequences become U+FFFD), or null.
    static func jsonString(_ buffer: ByteBuffer?) -> String {
        guard let buffer else { return "null" }
        return jsonString(String(decoding: buffer.readableBytesView, as: UTF8.self))
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
