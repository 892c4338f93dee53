import MVCC
import TestSupport

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

/// A store in a temporary directory that numbers the entries it applies, as the Raft log would.
final class StoreFixture {
    let directory = TemporaryDirectory()
    /// Implicitly unwrapped only so `reopen` can release the old store (and its RocksDB lock) before opening anew.
    var store: MVCCStore!
    var nextIndex: UInt64 = 1
    let options: MVCCOptions

    init(options: MVCCOptions = MVCCOptions()) throws {
        self.options = options
        store = try MVCCStore(directory: directory.child("store"), options: options)
    }

    /// Applies the command as the next log entry and returns its response, throwing its refusal.
    @discardableResult
    func apply(_ command: MVCCCommand) throws -> MVCCResponse {
        defer { nextIndex += 1 }
        switch try store.apply(command, index: nextIndex) {
        case .alreadyApplied: throw FixtureError.unexpectedlyAlreadyApplied
        case .applied(let result): return try result.get()
        }
    }

    @discardableResult
    func put(_ key: String, _ value: String, lease: Int64 = 0) throws -> PutResponse {
        guard case .put(let response) = try apply(.put(PutRequest(key: bytes(key), value: bytes(value), lease: lease))) else {
            throw FixtureError.wrongResponse
        }
        return response
    }

    func get(_ key: String, revision: Int64 = 0) throws -> KeyValue? {
        try store.range(RangeRequest(range: KeyRange(key: bytes(key)), revision: revision)).kvs.first
    }

    func reopen() throws {
        store = nil
        store = try MVCCStore(directory: directory.child("store"), options: options)
    }

    enum FixtureError: Error { case unexpectedlyAlreadyApplied, wrongResponse }
}
