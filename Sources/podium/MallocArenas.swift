import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// glibc's allocator gives each thread that contends for it an arena of its own, up to eight per core, and
/// memory freed in one is reused only there: a server whose objects are allocated on one thread and freed on
/// another (parsed on an event loop, dropped by a task) keeps hundreds of megabytes free but unreturnable.
/// Measured (docs/benchmarks.md, 2026-12-03): four `bench scheduler` runs on one cluster end at 890–910 MB per
/// master with the default, 760–780 MB with one arena per core, at the same rate.
enum MallocArenas {
    /// One arena per core (at least two) for the long-running commands, unless MALLOC_ARENA_MAX says otherwise.
    static func limitToCores() {
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil,
              // <malloc.h> is not in the Glibc module: mallopt is looked up, its constant is glibc's ABI.
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let arenaMax: Int32 = -8  // M_ARENA_MAX
        _ = mallopt(arenaMax, Int32(max(2, System.coreCount)))
        #endif
    }
}
