import ArgumentParser
import Foundation
import KafkaRecords
import KafkaWire
import NIOCore
import SkeinModel

/// `skein bench`: measurements, reported as numbers; never asserted in tests.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks.",
        subcommands: [WireBench.self, ProduceBench.self, ConsumeBench.self, RebalanceBench.self]
    )
}

/// Times a closure over repeated runs and reports the best and median throughput.
struct Measurement {
    let name: String
    let bytesPerRun: Int
    var seconds: [Double] = []

    var bestMBps: Double { Double(bytesPerRun) / (seconds.min() ?? .infinity) / 1_000_000 }
    var medianMicros: Double { seconds.sorted()[seconds.count / 2] * 1_000_000 }
    var medianMBps: Double {
        let sorted = seconds.sorted()
        return Double(bytesPerRun) / sorted[sorted.count / 2] / 1_000_000
    }

    static func run(_ name: String, bytes: Int, runs: Int, _ body: () throws -> Void) rethrows -> Measurement {
        var m = Measurement(name: name, bytesPerRun: bytes)
        try body()  // warm up
        let clock = ContinuousClock()
        for _ in 0..<runs {
            let start = clock.now
            try body()
            let d = clock.now - start
            m.seconds.append(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        }
        return m
    }
}

struct WireBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wire",
        abstract: "Codec throughput: Produce encode+decode, CRC-32C, compression codecs."
    )

    @Option(help: "Timed runs per measurement.")
    var runs: Int = 20

    @Option(help: "Size of one record's value in bytes.")
    var recordSize: Int = 1024

    @Option(help: "Bytes of records per Produce request.")
    var requestBytes: Int = 1 << 20

    func run() throws {
        var results: [Measurement] = []
        print("skein bench wire: \(runs) runs each, release build recommended (swift run -c release skein bench wire)")

        // A payload like application records: JSON with varied words and numbers from a seeded generator, so
        // the codecs see realistic ratios (about 3-6x), not a repeated string.
        let words = [
            "order", "shipped", "pending", "customer", "amount", "currency", "EUR", "USD", "warehouse",
            "berlin", "lisbon", "priority", "express", "standard", "refund", "invoice", "sku", "qty",
        ]
        var rng = SeededRandom(seed: 1)
        let recordCount = max(1, requestBytes / recordSize)
        var values: [ByteBuffer] = []
        values.reserveCapacity(recordCount)
        for i in 0..<recordCount {
            var line = "{\"id\":\(i),\"ts\":\(1_700_000_000_000 + Int.random(in: 0..<86_400_000, using: &rng)),\"f\":["
            while line.utf8.count < recordSize - 2 {
                line +=
                    "\"\(words[Int.random(in: 0..<words.count, using: &rng)])-\(Int.random(in: 0..<100_000, using: &rng))\","
            }
            var b = ByteBuffer()
            b.writeString(String(line.prefix(recordSize - 2)) + "]}")
            values.append(b)
        }
        let records: [Record] = values.enumerated().map { i, v in
            var key = ByteBuffer()
            key.writeString("key-\(i % 1000)")
            return Record(offsetDelta: Int32(i), timestampDelta: Int64(i), key: key, value: v, headers: [])
        }
        let payloadBytes = values.reduce(0) { $0 + $1.readableBytes }

        // Building the batch: record encoding and CRC.
        var batch = ByteBuffer()
        results.append(
            try Measurement.run("batch build (\(recordCount) x \(recordSize) B, none)", bytes: payloadBytes, runs: runs)
            {
                batch = try RecordBatchBuilder.build(
                    records: records, baseTimestamp: 1_700_000_000_000, compression: .none)
            })

        // Produce request encode + decode, then the broker-side batch validation.
        let request = ProduceRequest(
            transactionalId: nil, acks: -1, timeoutMs: 30_000,
            topicData: [.init(name: "bench", partitionData: [.init(index: 0, records: batch)])]
        )
        let frameBytes = try request.encodeFrame(version: 9, correlationId: 1, clientId: "bench").readableBytes
        results.append(
            try Measurement.run("Produce v9 encode (1 MiB)", bytes: frameBytes, runs: runs) {
                _ = try request.encodeFrame(version: 9, correlationId: 1, clientId: "bench")
            })
        var frame = try request.encodeFrame(version: 9, correlationId: 1, clientId: "bench")
        frame.moveReaderIndex(forwardBy: 4)
        results.append(
            try Measurement.run("Produce v9 decode (1 MiB)", bytes: frameBytes, runs: runs) {
                let parsed = try KafkaRequestFrame(parsing: frame)
                _ = try ProduceRequest.decodeWhole(parsed.body, version: parsed.header.requestApiVersion)
            })
        results.append(
            try Measurement.run("Produce v9 decode + validate batches", bytes: frameBytes, runs: runs) {
                let parsed = try KafkaRequestFrame(parsing: frame)
                let decoded = try ProduceRequest.decodeWhole(parsed.body, version: parsed.header.requestApiVersion)
                for topic in decoded.topicData {
                    for partition in topic.partitionData {
                        for view in RecordBatchSequence(partition.records ?? ByteBuffer()) { try view.validate() }
                    }
                }
            })
        results.append(
            try Measurement.run("batch decode all records (none)", bytes: payloadBytes, runs: runs) {
                for view in RecordBatchSequence(batch) { _ = try view.decodeRecords(maxUncompressedBytes: 64 << 20) }
            })

        // CRC-32C.
        var crcInput = ByteBuffer()
        crcInput.writeBytes((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        var sink: UInt32 = 0
        results.append(
            Measurement.run(
                "CRC-32C \(CRC32C.isHardwareAccelerated ? "SSE4.2" : "table") 1 MiB", bytes: 1 << 20, runs: runs * 5
            ) {
                sink ^= CRC32C.checksum(crcInput)
            })
        results.append(
            Measurement.run("CRC-32C table 1 MiB", bytes: 1 << 20, runs: runs * 2) {
                sink ^= crcInput.withUnsafeReadableBytes { CRC32C.tableChecksum($0) }
            })

        // Compression codecs over the records' payload.
        var plain = ByteBuffer()
        for v in values { plain.writeImmutableBuffer(v) }
        for codec in [CompressionCodec.gzip, .snappy, .lz4, .zstd] {
            var compressed = ByteBuffer()
            let c = try Measurement.run("\(codec) compress", bytes: plain.readableBytes, runs: runs) {
                compressed = try Compression.compress(codec, plain)
            }
            results.append(c)
            let ratio = Double(plain.readableBytes) / Double(max(1, compressed.readableBytes))
            results.append(
                try Measurement.run(
                    "\(codec) decompress (ratio \(String(format: "%.1f", ratio)))", bytes: plain.readableBytes,
                    runs: runs
                ) {
                    _ = try Compression.decompress(codec, compressed, maxOutputBytes: 64 << 20)
                })
        }

        print("")
        print(
            "benchmark".padding(toLength: 48, withPad: " ", startingAt: 0) + "   best MB/s   median MB/s   median us/op"
        )
        for r in results {
            let best = String(format: "%10.1f", r.bestMBps)
            let median = String(format: "%12.1f", r.medianMBps)
            let micros = String(format: "%14.1f", r.medianMicros)
            print(r.name.padding(toLength: 48, withPad: " ", startingAt: 0) + best + "  " + median + micros)
        }
        if sink == 0x1234_5678 { print("") }  // keep the CRC results alive
    }
}
