#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Thin wrappers over the POSIX calls the log uses. Each retries EINTR and turns failures into `StorageError`
/// with the path and errno; nothing here buffers or copies.
enum FileIO {
    static func openFile(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        while true {
            let fd = open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw StorageError.io(operation: "open", path: path, errno: errno)
        }
    }

    static func fileSize(_ fd: Int32, path: String) throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StorageError.io(operation: "fstat", path: path, errno: errno) }
        return Int(st.st_size)
    }

    static func modificationTimeMs(_ fd: Int32) -> Int64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return 0 }
        #if os(Linux)
            return Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000
        #else
            return Int64(st.st_mtimespec.tv_sec) * 1000 + Int64(st.st_mtimespec.tv_nsec) / 1_000_000
        #endif
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    static func preadFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String)
        throws -> Int
    {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n > 0 {
                done += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                throw StorageError.io(operation: "pread", path: path, errno: errno)
            }
        }
        return done
    }

    /// Writes the iovecs at `offset` with one pwritev call. A write that does not complete (ENOSPC, EDQUOT or a
    /// short count, which on a regular file means the same) is cut back to `offset` so no partial batch stays
    /// in the file, and reported as `.diskFull`; other errors are cut back too and reported as `.io`.
    static func pwritevAll(_ fd: Int32, _ iov: [iovec], at offset: Int64, path: String) throws {
        let total = iov.reduce(0) { $0 + $1.iov_len }
        if total == 0 { return }
        var written: Int
        repeat {
            written = iov.withUnsafeBufferPointer { pwritev(fd, $0.baseAddress, Int32($0.count), off_t(offset)) }
        } while written < 0 && errno == EINTR
        if written == total { return }
        let err = written < 0 ? errno : ENOSPC
        _ = ftruncate(fd, off_t(offset))
        if err == ENOSPC || err == EDQUOT { throw StorageError.diskFull(path: path) }
        throw StorageError.io(operation: "pwritev", path: path, errno: err)
    }

    /// Writes a whole buffer at `offset` (index files, checkpoints), with the same cut-back on failure.
    static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws {
        let iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        try pwritevAll(fd, [iov], at: offset, path: path)
    }

    static func fsyncFile(_ fd: Int32, path: String) throws {
        while fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw StorageError.io(operation: "fsync", path: path, errno: errno)
        }
    }

    static func truncateFile(_ fd: Int32, to size: Int, path: String) throws {
        while ftruncate(fd, off_t(size)) != 0 {
            if errno == EINTR { continue }
            throw StorageError.io(operation: "ftruncate", path: path, errno: errno)
        }
    }

    static func closeFile(_ fd: Int32) {
        // Linux closes the descriptor even when close reports EINTR; retrying could close a reused number.
        _ = close(fd)
    }

    static func unlinkFile(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT {
            throw StorageError.io(operation: "unlink", path: path, errno: errno)
        }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func makeDirectory(_ path: String) throws {
        // Creates missing parents too, like `mkdir -p`.
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw StorageError.io(operation: "mkdir", path: current, errno: errno)
            }
        }
    }

    /// fsync of a directory makes file creations, renames and unlinks in it durable.
    static func fsyncDirectory(_ path: String) throws {
        let fd = try openFile(path, flags: O_RDONLY | O_DIRECTORY)
        defer { closeFile(fd) }
        try fsyncFile(fd, path: path)
    }

    static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw StorageError.io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Replaces `path` with `contents` atomically: write a temp file, fsync it, rename over, fsync the
    /// directory. A crash leaves either the old or the new file, never a torn one.
    static func atomicWrite(_ contents: [UInt8], to path: String, directory: String) throws {
        let tmp = path + ".tmp"
        let fd = try openFile(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try contents.withUnsafeBytes { try pwriteAll(fd, $0, at: 0, path: tmp) }
            try fsyncFile(fd, path: tmp)
        } catch {
            closeFile(fd)
            throw error
        }
        closeFile(fd)
        guard rename(tmp, path) == 0 else { throw StorageError.io(operation: "rename", path: path, errno: errno) }
        try fsyncDirectory(directory)
    }

    /// The whole file, or nil when it does not exist.
    static func readWholeFile(_ path: String) throws -> [UInt8]? {
        let fd: Int32
        do { fd = try openFile(path, flags: O_RDONLY) } catch StorageError.io(_, _, ENOENT) { return nil }
        defer { closeFile(fd) }
        let size = try fileSize(fd, path: path)
        var bytes = [UInt8](repeating: 0, count: size)
        let n = try bytes.withUnsafeMutableBytes { try preadFully(fd, into: $0, at: 0, path: path) }
        return Array(bytes[0..<n])
    }
}
