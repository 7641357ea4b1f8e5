import Foundation
import KafkaRecords
import NIOCore
import SkeinModel
import SkeinStorage
import Testing

/// A fresh directory under the system temp directory, removed when `body` returns or throws.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("skein-storage-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// A producer batch of `count` records whose timestamps are `timestamp`, `timestamp + step`, ...
func makeBatch(
    count: Int, timestamp: Int64 = 1_700_000_000_000, step: Int64 = 1, valueSize: Int = 40, tag: String = "v"
) -> ByteBuffer {
    let records = (0..<count).map { i in
        Record(
            offsetDelta: Int32(i), timestampDelta: Int64(i) * step, key: ByteBuffer(string: "k\(i)"),
            value: ByteBuffer(string: "\(tag)-\(i)-" + String(repeating: "x", count: valueSize)))
    }
    return try! RecordBatchBuilder.build(records: records, baseTimestamp: timestamp)
}

/// The batches in a read result, read with pread.
func batches(_ result: LogReadResult) throws -> [RecordBatchView] {
    Array(RecordBatchSequence(try result.readBytes()))
}

/// Every batch of the log from logStartOffset, in one read.
func allBatches(_ log: PartitionLog) throws -> [RecordBatchView] {
    try batches(log.read(fromOffset: log.logStartOffset, maxBytes: Int.max))
}

func fileNames(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
}

func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber).intValue
}

func segmentPath(_ directory: String, _ base: Int64, _ ext: String = "log") -> String {
    let digits = String(base)
    return directory + "/" + String(repeating: "0", count: 20 - digits.count) + digits + "." + ext
}

let testClock = ManualClock(nowMillis: 1_700_000_000_000)
