import ArgumentParser
import Foundation
import KafkaRecords
import NIOCore
import SkeinClient
import SkeinModel

/// Latency percentiles of a set of samples, in milliseconds.
struct Percentiles {
    let p50: Double, p95: Double, p99: Double, max: Double
    init(_ samples: [Double]) {
        let s = samples.sorted()
        func at(_ q: Double) -> Double { s.isEmpty ? 0 : s[min(s.count - 1, Int(Double(s.count) * q))] }
        p50 = at(0.50)
        p95 = at(0.95)
        p99 = at(0.99)
        max = s.last ?? 0
    }
    var text: String { String(format: "p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms", p50, p95, p99, max) }
}

/// A progress line on stderr, rewritten in place about once a second.
struct ProgressLine {
    private var last = ContinuousClock.now
    mutating func update(_ text: @autoclosure () -> String) {
        let now = ContinuousClock.now
        guard now - last >= .seconds(1) else { return }
        last = now
        FileHandle.standardError.write(Data("\r\(text())\u{1B}[K".utf8))
    }
    func finish() { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

/// `skein bench produce`: throughput and latency of producing to a cluster with the native client.
struct ProduceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce", abstract: "Produce throughput and latency (MB/s, records/s, percentiles).")

    @OptionGroup var client: ClientOptions
    @Option(help: "Topic (created when missing, with --partitions).") var topic: String = "skein-bench"
    @Option(help: "Records to produce.") var records: Int = 1_000_000
    @Option(help: "Value size in bytes.") var recordSize: Int = 1024
    @Option(help: "acks: 0, 1 or all.") var acks: String = "1"
    @Option(help: "none, gzip, snappy, lz4 or zstd.") var compression: String = "none"
    @Option(help: "Partitions of a topic that has to be created.") var partitions: Int = 1
    @Option(help: "Records per produce request.") var batchRecords: Int = 1000
    @Option(help: "Produce requests in flight at once.") var inFlight: Int = 4

    func run() async throws {
        guard let codec = CompressionCodec.allCases.first(where: { "\($0)" == compression }) else {
            throw ValidationError("unknown compression '\(compression)'")
        }
        let ackMode: Acks
        switch acks {
        case "0": ackMode = .none
        case "1": ackMode = .leader
        case "all", "-1": ackMode = .all
        default: throw ValidationError("acks must be 0, 1 or all")
        }
        try await client.withClient { kafka in
            let existing = try await kafka.listTopics()
            if !existing.contains(topic) {
                try await kafka.createTopic(
                    name: topic, partitions: Int32(partitions), replicationFactor: nil, configs: [:])
            }
            let partitionCount = Int32(try await kafka.describeTopic(topic).topic.partitions.count)
            // Values like application records (varied text), shared by every batch: no per-record allocation.
            var rng = SeededRandom(seed: 7)
            let words = ["order", "shipped", "customer", "amount", "EUR", "warehouse", "express", "invoice"]
            let batch: [ProducerRecord] = (0..<batchRecords).map { _ in
                var text = ""
                while text.utf8.count < recordSize {
                    text +=
                        words[Int.random(in: 0..<words.count, using: &rng)]
                        + "-\(Int.random(in: 0..<100_000, using: &rng)) "
                }
                return ProducerRecord(key: nil, value: ByteBuffer(string: String(text.prefix(recordSize))))
            }
            let requests = (records + batchRecords - 1) / batchRecords
            let clock = ContinuousClock()
            let start = clock.now
            var latencies: [Double] = []
            var sent = 0
            var progress = ProgressLine()
            try await withThrowingTaskGroup(of: Double.self) { group in
                var next = 0
                func launch() {
                    let index = next
                    next += 1
                    let count = min(batchRecords, records - index * batchRecords)
                    let slice = Array(batch.prefix(count))
                    group.addTask {
                        let t0 = clock.now
                        _ = try await kafka.produce(
                            topic: topic, partition: Int32(index) % partitionCount, records: slice, acks: ackMode,
                            compression: codec)
                        return seconds(clock.now - t0) * 1000
                    }
                }
                while next < min(inFlight, requests) { launch() }
                while let latency = try await group.next() {
                    latencies.append(latency)
                    sent = min(records, latencies.count * batchRecords)
                    let elapsed = seconds(clock.now - start)
                    progress.update(
                        String(
                            format: "%d / %d records, %.1f MB/s", sent, records,
                            Double(sent * recordSize) / elapsed / 1e6))
                    if next < requests { launch() }
                }
            }
            progress.finish()
            let elapsed = seconds(clock.now - start)
            print(
                String(
                    format: "produced %d records of %d B to %@ (%d partitions, acks=%@, %@) in %.2f s",
                    records, recordSize, topic, partitionCount, acks, compression, elapsed))
            print(
                String(
                    format: "%.1f MB/s, %.0f records/s", Double(records * recordSize) / elapsed / 1e6,
                    Double(records) / elapsed))
            print(
                "request latency (\(batchRecords) records each, \(inFlight) in flight): \(Percentiles(latencies).text)")
        }
    }
}

/// `skein bench consume`: reads a topic from its start to its end and reports the rate.
struct ConsumeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume", abstract: "Consume throughput from the start of a topic to its end.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Topic to read.") var topic: String = "skein-bench"
    @Option(help: "Bytes per partition per fetch.") var fetchBytes: Int32 = 8 << 20

    func run() async throws {
        try await client.withClient { kafka in
            let description = try await kafka.describeTopic(topic)
            var offsets: [Int32: Int64] = [:]
            var ends: [Int32: Int64] = [:]
            for p in description.topic.partitions {
                let id = p.partition
                offsets[id] = try await kafka.offset(topic: topic, partition: id, .earliest)
                ends[id] = try await kafka.offset(topic: topic, partition: id, .latest)
            }
            let clock = ContinuousClock()
            let start = clock.now
            var count = 0
            var bytes = 0
            var latencies: [Double] = []
            var progress = ProgressLine()
            while true {
                let pending = offsets.filter { $0.value < ends[$0.key]! }
                if pending.isEmpty { break }
                let t0 = clock.now
                let fetched = try await kafka.fetch(
                    topic: topic, offsets: pending, maxWait: .milliseconds(100), maxBytes: fetchBytes)
                latencies.append(seconds(clock.now - t0) * 1000)
                for (p, result) in fetched {
                    offsets[p] = result.nextOffset
                    count += result.records.count
                    for r in result.records { bytes += (r.value?.readableBytes ?? 0) + (r.key?.readableBytes ?? 0) }
                }
                progress.update(
                    String(format: "%d records, %.1f MB/s", count, Double(bytes) / seconds(clock.now - start) / 1e6))
            }
            progress.finish()
            let elapsed = seconds(clock.now - start)
            print(
                String(
                    format: "consumed %d records (%.1f MB) from %@ in %.2f s", count, Double(bytes) / 1e6, topic,
                    elapsed))
            print(String(format: "%.1f MB/s, %.0f records/s", Double(bytes) / elapsed / 1e6, Double(count) / elapsed))
            print("fetch latency: \(Percentiles(latencies).text)")
        }
    }
}
