import NIOConcurrencyHelpers

/// A single node's durable producer-id counter: the file `producer-ids` in the data directory holds the first id
/// not yet reserved (text `1\n<next>\n`). A block is reserved by writing the counter past it (fsynced, atomic
/// rename) before any of its ids is handed out, so a restart never hands an id out twice. (A cluster reserves
/// blocks through the controller instead.)
public enum ProducerIdBlocks {
    static let fileName = "producer-ids"
    /// Reservations are read-modify-write of one file: one at a time in this process.
    private static let lock = NIOLock()

    /// Reserves the next `count` ids.
    public static func reserve(count: Int64, directory: String) throws -> Range<Int64> {
        try lock.withLock { try reserveLocked(count: count, directory: directory) }
    }

    private static func reserveLocked(count: Int64, directory: String) throws -> Range<Int64> {
        try FileIO.makeDirectory(directory)
        let path = directory + "/" + fileName
        var next: Int64 = 0
        if let bytes = try FileIO.readWholeFile(path) {
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            guard lines.count == 2, lines[0] == "1", let value = Int64(lines[1]), value >= 0 else {
                throw StorageError.corruptFile(path: path, reason: "expected \"1\\n<next producer id>\\n\"")
            }
            next = value
        }
        try FileIO.atomicWrite(Array("1\n\(next + count)\n".utf8), to: path, directory: directory)
        return next..<(next + count)
    }
}
