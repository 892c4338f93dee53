/// Who compacts a store that several API servers share, and to which revision — kube-apiserver's scheme, pure.
///
/// Every interval each server runs one transaction on the key `compact_rev_key`: "if its version is still the
/// one I last saw, put to it". Exactly one server's transaction succeeds per round (a put bumps the version, so
/// the others' compares fail and they learn the new version), and only that server compacts — to the revision it
/// saw one interval earlier, so that a whole interval of history stays for watchers and paginated lists resuming
/// from a recent resourceVersion. Clock-free: the shell decides when ticks happen.
struct CompactionSchedule: Sendable, Equatable {
    /// The key the servers race on; kube-apiserver's, so Podium and kube-apiserver sharing a store take turns.
    static let key = "compact_rev_key"

    /// The version of `key` this server last saw (kube calls it the compact "time"); 0 while the key is missing.
    private(set) var expectedVersion: Int64 = 0
    /// The store's revision at this server's previous tick: what it compacts to when it next wins (0: none yet).
    private(set) var lastRevision: Int64 = 0

    /// What one tick's transaction found.
    enum Outcome: Sendable, Equatable {
        /// The compare held and the put happened; the store was at `revision` after it.
        case won(revision: Int64)
        /// Another server put first: the key is at `version`, the store at `revision`.
        case lost(version: Int64, revision: Int64)
    }

    /// Learns a tick's outcome; returns the revision to compact to, when this server won and has one. A tick that
    /// failed (the store unreachable) is not recorded, so the next tick retries with the same expectation.
    mutating func record(_ outcome: Outcome) -> Int64? {
        switch outcome {
        case .won(let revision):
            let target = lastRevision
            expectedVersion += 1
            lastRevision = revision
            return target > 0 ? target : nil
        case .lost(let version, let revision):
            expectedVersion = version
            lastRevision = revision
            return nil
        }
    }
}
