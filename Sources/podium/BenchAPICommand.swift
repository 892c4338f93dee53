import ArgumentParser
import Bench
import NIOCore
import NIOPosix

/// `podium bench api`: load through a Kubernetes API server (Podium's, or any, with a kubeconfig of the shape
/// `podium up` writes): creates, gets and lists of small pods, and watch fan-out.
struct BenchAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Benchmark a Kubernetes API server: create, get, list (pods) or watch fan-out.")

    @Argument(help: "create, get, list or watch.")
    var workload = "create"

    @Option(help: "The kubeconfig (server, CA, token) to reach the API server with.")
    var kubeconfig = ".podium/kubeconfig"

    @Option(help: "Concurrent clients, one HTTPS connection each (for watch: the writers, at most 50).")
    var clients = 100

    @Option(help: "Requests in all (create, get, list).")
    var total = 10_000

    @Option(help: "Watchers (watch).")
    var watchers = 100

    @Option(help: "Updates per second while watched (watch).")
    var rate = 500.0

    @Option(help: "Seconds of updates (watch).")
    var duration = 10.0

    @Option(name: .customLong("sampled-watchers"), help: "Watchers whose every event is timed (watch; the rest count).")
    var sampledWatchers = 20

    @Option(help: "The namespace to work in (made if missing).")
    var namespace = "bench"

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard ["create", "get", "list", "watch"].contains(workload) else {
            throw ValidationError("the workload must be create, get, list or watch")
        }
        guard clients > 0, total > 0, watchers > 0, rate > 0, duration > 0 else {
            throw ValidationError("--clients, --total, --watchers, --rate and --duration must be positive")
        }
    }

    func run() async throws {
        var options = APILoad.Options(target: try APIClientConnection.Target(kubeconfig: kubeconfig))
        options.clients = clients
        options.total = total
        options.watchers = watchers
        options.rate = rate
        options.duration = duration
        options.sampledWatchers = min(sampledWatchers, watchers)
        options.namespace = namespace
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let report: BenchReport
        switch workload {
        case "create": report = try await APILoad.creates(options, group: group)
        case "get": report = try await APILoad.gets(options, group: group)
        case "list": report = try await APILoad.lists(options, group: group)
        default: report = try await APILoad.watchFanOut(options, group: group)
        }
        try? await group.shutdownGracefully()
        print(json ? report.json() : report.text())
        if report.succeeded == 0 { throw ExitCode.failure }
    }
}
