import ArgumentParser
import Foundation
import Logging
import MVCC

/// `podium store`: opens (creating if needed) a store data directory and reports its state. It grows into one
/// replicated store member with the server work.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Open (or create) a store data directory and print its state.")

    @Option(name: .customLong("data-dir"), help: "The member's data directory (created, with its parents, if missing).")
    var dataDirectory = "default.podium"

    func run() throws {
        let logger = Logger(label: "podium.store")
        let store: MVCCStore
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            store = try MVCCStore(directory: dataDirectory)
        } catch {
            throw CommandFailure("cannot open store at \(dataDirectory): \(error)")
        }
        logger.info("store opened", metadata: ["data-dir": "\(dataDirectory)"])
        print("""
            data-dir: \(dataDirectory)
            revision: \(store.revision)
            compacted-revision: \(store.compactedRevision)
            applied-index: \(store.appliedIndex)
            leases: \(try store.leases().count)
            """)
    }
}

/// A failure to report as one line, without the usage text that argument errors get.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
