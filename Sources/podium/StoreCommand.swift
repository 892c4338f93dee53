import ArgumentParser
import Logging
import MVCC

/// `podium store`: opens (creating if needed) a store data directory and reports its state. It grows into one
/// replicated store member with the server work.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Open a store data directory and print its state.")

    @Option(name: .customLong("data-dir"), help: "The member's data directory (created if missing).")
    var dataDirectory = "default.podium"

    func run() throws {
        let logger = Logger(label: "podium.store")
        let store: MVCCStore
        do {
            store = try MVCCStore(directory: dataDirectory)
        } catch {
            throw ValidationError("cannot open store at \(dataDirectory): \(error)")
        }
        logger.info("store opened", metadata: ["data-dir": "\(dataDirectory)"])
        print("data-dir: \(dataDirectory)")
        print("revision: \(store.revision)")
        print("compacted-revision: \(store.compactedRevision)")
        print("applied-index: \(store.appliedIndex)")
        print("leases: \(try store.leases().count)")
    }
}
