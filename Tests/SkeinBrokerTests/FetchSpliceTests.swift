import Foundation
import KafkaRecords
import KafkaWire
import NIOCore
import NIOPosix
import SkeinModel
import SkeinStorage
import Testing

@testable import SkeinBroker

/// The zero-copy Fetch response, put back together (buffers plus the file regions read with pread), must be
/// exactly the response the generated codec writes with the records in memory.
@Suite struct FetchSpliceTests {
    static func materialize(_ parts: [IOData]) throws -> ByteBuffer {
        var out = ByteBuffer()
        for part in parts {
            switch part {
            case .byteBuffer(let b):
                out.writeImmutableBuffer(b)
            case .fileRegion(let region):
                let length = region.endIndex - region.readerIndex
                let fd = try region.fileHandle.withUnsafeFileDescriptor { $0 }
                out.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { ptr in
                    pread(fd, ptr.baseAddress, length, off_t(region.readerIndex))
                }
            }
        }
        return out
    }

    @Test(arguments: [Int16(4), 11, 12, 16])
    func splicedResponseEqualsTheInMemoryOne(version: Int16) throws {
        let directory = NSTemporaryDirectory() + "skein-splice-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logs: [PartitionLog] = []
        for p in 0..<2 {
            let log = try PartitionLog(
                directory: directory + "/t-\(p)", config: LogConfig(segmentBytes: 4096), clock: ManualClock())
            for i in 0..<20 {  // several segments, so a read spans files
                let records = (0..<10).map {
                    Record(
                        offsetDelta: Int32($0), key: nil,
                        value: ByteBuffer(string: "p\(p)-\(i)-\($0)-\(String(repeating: "x", count: 30))"))
                }
                _ = try log.append(try RecordBatchBuilder.build(records: records, baseTimestamp: 1), leaderEpoch: 0)
            }
            logs.append(log)
        }
        defer { for log in logs { try? log.close() } }

        var inMemory = FetchResponse()
        var withMarkers = FetchResponse()
        var splices: [RecordsSplice] = []
        var topic = FetchResponse.FetchableTopicResponse(topic: "t")
        var markerTopic = topic
        for (p, log) in logs.enumerated() {
            let read = try log.read(fromOffset: 15, maxBytes: 5000, maxOffset: log.logEndOffset)
            #expect(read.chunks.count >= 2, "the read should span segments")
            var data = FetchResponse.PartitionData(
                partitionIndex: Int32(p), highWatermark: log.logEndOffset, records: try read.readBytes())
            data.lastStableOffset = log.logEndOffset
            topic.partitions.append(data)
            let splice = RecordsSplice(chunks: read.chunks, length: read.sizeInBytes)
            splices.append(splice)
            data.records = splice.marker
            markerTopic.partitions.append(data)
        }
        inMemory.responses = [topic]
        withMarkers.responses = [markerTopic]
        let expected = try inMemory.encodeFrame(version: version, correlationId: 9)
        let frame = try withMarkers.encodeFrame(version: version, correlationId: 9)
        let parts = try FetchSplicer.splice(
            frame: frame, splices: splices, flexible: ApiKey.fetch.isFlexible(version: version))
        defer { parts.release() }
        #expect(parts.parts.contains { if case .fileRegion = $0 { return true } else { return false } })
        #expect(try Self.materialize(parts.parts) == expected)
    }
}

@Suite struct FetchWaiterTests {
    /// Long polls that time out on an idle topic must not leave wake-ups behind (they would pile up for as long
    /// as nothing is produced).
    @Test func timedOutFetchesLeaveNoWaiters() async throws {
        let directory = NSTemporaryDirectory() + "skein-waiters-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try Broker(config: BrokerConfig(nodeId: 1, dataDirectory: directory), logger: .init(label: "t"))
        defer { broker.shutdown() }
        _ = try broker.topics.create(name: "idle", partitions: 1, configs: [:], validateOnly: false)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let request = FetchRequest(
            replicaId: -1, maxWaitMs: 20, minBytes: 1, maxBytes: 1 << 20,
            topics: [
                .init(topic: "idle", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)])
            ])
        for _ in 0..<10 {
            let result = try await broker.handleFetch(request, version: 11, zeroCopy: false, eventLoop: loop).get()
            guard case .response(let response as FetchResponse) = result else {
                Issue.record("expected a plain response")
                return
            }
            #expect(response.responses.first?.partitions.first?.errorCode == 0)
        }
        #expect(broker.fetchWaiters.count == 0)
    }
}
