#if canImport(Glibc)
import Glibc
#endif

/// One file of the Raft log: records written one after another from offset 0 into space allocated when the file
/// was created.
///
/// Allocating the whole segment up front is what makes the log's fsync cheap: writing inside a file's size
/// leaves `fdatasync` only the data to flush, where appending to a growing file also commits its new size to
/// the file system's journal (here about 120 µs against 200 µs per sync).
final class LogSegment {
    /// Segments are numbered in the order they were created; the name is the number in hex.
    let sequence: UInt64
    let path: String
    private let descriptor: Int32
    /// Where the next record goes: the end of the records written.
    private(set) var end: Int
    /// The highest entry index written into this segment (0: none): once compacted, the segment can go.
    var highestIndex: UInt64 = 0

    static let suffix = ".seg"

    static func fileName(_ sequence: UInt64) -> String {
        let hex = String(sequence, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex + suffix
    }

    /// The sequence number a segment file's name stands for; nil for any other file.
    static func sequence(ofFileName name: String) -> UInt64? {
        guard name.hasSuffix(suffix), name.count == 16 + suffix.count else { return nil }
        return UInt64(name.dropLast(suffix.count), radix: 16)
    }

    private init(sequence: UInt64, path: String, descriptor: Int32, end: Int) {
        self.sequence = sequence
        self.path = path
        self.descriptor = descriptor
        self.end = end
    }

    deinit { close(descriptor) }

    /// Creates segment `sequence` in `directory` with `size` bytes allocated, durably (the file and its entry in
    /// the directory are synced before it is used).
    static func create(in directory: String, sequence: UInt64, size: Int) throws -> LogSegment {
        let path = directory + "/" + fileName(sequence)
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw RaftLogError.io("creating", path, errno) }
        let segment = LogSegment(sequence: sequence, path: path, descriptor: descriptor, end: 0)
        let result = posix_fallocate(descriptor, 0, off_t(size))
        guard result == 0 else { throw RaftLogError.io("allocating", path, result) }
        guard fsync(descriptor) == 0 else { throw RaftLogError.io("syncing", path, errno) }
        try syncDirectory(directory)
        return segment
    }

    /// Opens an existing segment whose records end at `end` (found by reading it).
    static func open(path: String, sequence: UInt64, end: Int) throws -> LogSegment {
        let descriptor = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw RaftLogError.io("opening", path, errno) }
        return LogSegment(sequence: sequence, path: path, descriptor: descriptor, end: end)
    }

    /// Calls `body` with the whole file as it is on disk, mapped read-only rather than copied: recovery reads
    /// every segment once at start, and copying 64 MiB files into zeroed arrays was most of a restart's time.
    static func withContents<T>(of path: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw RaftLogError.io("opening", path, errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw RaftLogError.io("reading the size of", path, errno) }
        let size = Int(status.st_size)
        guard size > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw RaftLogError.io("mapping", path, errno)
        }
        defer { munmap(base, size) }
        madvise(base, size, MADV_SEQUENTIAL)
        return try body(UnsafeRawBufferPointer(start: base, count: size))
    }

    /// Writes `record` at the end; durable only after `sync`.
    func append(_ record: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < record.count {
            // Safe to force: the loop runs only for a non-empty record.
            let written = pwrite(descriptor, record.baseAddress! + done, record.count - done, off_t(end + done))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw RaftLogError.io("writing", path, written == 0 ? EIO : errno) }
            done += written
        }
        end += record.count
    }

    func sync() throws {
        guard fdatasync(descriptor) == 0 else { throw RaftLogError.io("syncing", path, errno) }
    }

    /// `count` bytes at `offset`, which lie inside records written earlier.
    func read(offset: Int, count: Int) throws -> [UInt8] {
        try Self.readFully(descriptor, path: path, offset: offset, count: count)
    }

    /// `count` bytes of the file at `offset`, however many reads that takes.
    private static func readFully(_ descriptor: Int32, path: String, offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < count {
                // Safe to force: the loop runs only for count > 0.
                let read = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if read < 0 && errno == EINTR { continue }
                guard read > 0 else { throw RaftLogError.io("reading", path, read == 0 ? EIO : errno) }
                done += read
            }
        }
        return bytes
    }

    /// Zeroes everything from `offset` on (keeping `size` bytes allocated), durably: what a crash left after the
    /// last whole record must not be read as records once new ones are written over its start.
    func cut(at offset: Int, size: Int) throws {
        guard ftruncate(descriptor, off_t(offset)) == 0 else { throw RaftLogError.io("truncating", path, errno) }
        // Allocating again can fail on a full disk (the store may have taken the space just freed): the segment
        // then grows as records are appended, a slower sync but no reason to refuse to start.
        _ = posix_fallocate(descriptor, 0, off_t(max(size, offset)))
        guard fsync(descriptor) == 0 else { throw RaftLogError.io("syncing", path, errno) }
        end = offset
    }

    static func syncDirectory(_ directory: String) throws {
        let descriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw RaftLogError.io("opening", directory, errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw RaftLogError.io("syncing", directory, errno) }
    }

    /// Creates `path` unless it exists, durably.
    static func makeDirectory(_ path: String) throws {
        guard mkdir(path, 0o755) == 0 else {
            if errno == EEXIST { return }
            throw RaftLogError.io("creating", path, errno)
        }
        try syncParent(of: path)
    }

    /// Syncs the directory holding `path`, so that a file or directory created or renamed there stays.
    static func syncParent(of path: String) throws {
        var parent = String(path.reversed().drop { $0 == "/" }.reversed())
        if let slash = parent.lastIndex(of: "/") { parent = slash == parent.startIndex ? "/" : String(parent[..<slash]) } else { parent = "." }
        try syncDirectory(parent)
    }

    /// The names of the files in `directory`.
    static func fileNames(in directory: String) throws -> [String] {
        guard let stream = opendir(directory) else { throw RaftLogError.io("listing", directory, errno) }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes the file, durably.
    func remove(directory: String) throws {
        guard unlink(path) == 0 else { throw RaftLogError.io("removing", path, errno) }
        try Self.syncDirectory(directory)
    }
}
