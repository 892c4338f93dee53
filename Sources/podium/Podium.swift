import ArgumentParser

@main
struct Podium: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "podium",
        abstract: "A high-availability container orchestrator with its own Raft-replicated etcd-compatible store.",
        subcommands: [Version.self, Up.self, Status.self, Kill.self, Stop.self, Start.self, Down.self, StoreCommand.self, MasterCommand.self, APIServerCommand.self,
                      SnapshotCommand.self, BenchCommand.self, ChaosCommand.self, HollowNodesCommand.self])
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Podium's version.")
    static let current = "0.1.0-dev"

    func run() {
        print("podium \(Version.current)")
    }
}
