import ArgumentParser
import Bench
import ClusterClient
import Foundation
import HollowNode
import Logging
import Resources
import Synchronization

/// What `podium bench scheduler` and `podium bench deploy` share: the cluster of `--kubeconfig`, a fleet of
/// hollow nodes started for the run (labelled with the run's id, deleted after), and a namespace of its own.
struct ClusterBenchOptions: ParsableArguments {
    @Option(help: "The kubeconfig of the cluster (default: $KUBECONFIG, then .podium/kubeconfig).")
    var kubeconfig: String?

    @Option(help: "Hollow nodes to start for the run.")
    var nodes = 1000

    @Option(help: "The namespace to work in (made if missing, deleted after; default: one named after the run).")
    var namespace: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Option(name: .customLong("lease-renew-interval"), help: ArgumentHelp(
        "Seconds between renewals of each hollow node's Lease (Kubernetes' kubelet: 10, with a 40 s grace period; keep it well within the masters' --node-monitor-grace-period).",
        valueName: "seconds"))
    var leaseRenewInterval = 2.0

    func validate() throws {
        guard leaseRenewInterval > 0, leaseRenewInterval.isFinite else { throw ValidationError("--lease-renew-interval must be a positive number of seconds") }
    }

    func access() throws -> ClusterAccess {
        try ClusterAccess(kubeconfig: kubeconfig ?? ClusterAccess.defaultKubeconfig() ?? ".podium/kubeconfig")
    }
}

/// A run's hollow nodes: started, waited for until all are Ready in the API, and removed at the end.
struct BenchFleet {
    let api: APIClient
    let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    let task: Task<Void, any Error>
    let nodes: ResourceClient

    init(api: APIClient, count: Int, leaseRenewInterval: Double, reportsPods: Bool = true) throws {
        self.api = api
        var options = HollowNodeFleet.Options()
        options.leaseRenewInterval = leaseRenewInterval
        options.reportsPods = reportsPods
        options.count = count
        options.namePrefix = "bench-\(run)-"
        options.labels["podium.dev/bench-run"] = run
        options.runSeconds = 3600
        let fleet = try HollowNodeFleet(api: api, options: options, logger: Logger(label: "podium.bench.hollow"))
        task = Task { try await fleet.run() }
        guard let type = ResourceType.find(group: "", version: "v1", plural: "nodes") else { throw CommandFailure("no nodes resource") }
        nodes = ResourceClient(api, type)
    }

    func waitUntilRegistered(_ count: Int, timeout: Double = 300) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let list = try? await nodes.listAll(labelSelector: "podium.dev/bench-run=\(run)")
            if (list?.items.count ?? 0) >= count { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw CommandFailure("the \(count) hollow nodes did not register within \(Int(timeout)) s")
    }

    func stop() async {
        task.cancel()
        let names = ((try? await nodes.listAll(labelSelector: "podium.dev/bench-run=\(run)"))?.items ?? [])
            .compactMap { $0[path: ["metadata", "name"]]?.stringValue }
        await withDiscardingTaskGroup { group in
            for chunk in stride(from: 0, to: names.count, by: 50) {
                let slice = names[chunk..<min(chunk + 50, names.count)]
                group.addTask { for name in slice { _ = try? await nodes.delete(namespace: nil, name: name) } }
            }
        }
    }
}

/// Logs warnings and errors only: a benchmark's output is its report.
func bootstrapWarningsOnly() {
    LoggingSystem.bootstrap { label in
        var handler = LogLineHandler(label: label)
        handler.logLevel = .warning
        return handler
    }
}

func ensureNamespace(_ name: String, api: APIClient) async throws {
    guard let type = ResourceType.find(group: "", version: "v1", plural: "namespaces") else { return }
    try await ResourceClient(api, type).createIfAbsent(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]])
}

func deleteNamespace(_ name: String, api: APIClient) async {
    guard let type = ResourceType.find(group: "", version: "v1", plural: "namespaces") else { return }
    _ = try? await ResourceClient(api, type).delete(namespace: nil, name: name)
}

/// `podium bench scheduler`: Kubernetes' scheduler_perf SchedulingBasic on Podium — N hollow nodes, P pods
/// created through the API server, pods/s from the first create to the last binding seen by a watch, and each
/// pod's latency from its create to its binding.
struct BenchScheduler: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Benchmark scheduling: hollow nodes, pods created through the API server, pods/s until all are bound.")

    @OptionGroup var cluster: ClusterBenchOptions

    @Option(help: "Pods to create and schedule.")
    var pods = 10_000

    @Option(help: "Concurrent pod creators.")
    var clients = 50

    @Flag(name: .customLong("report-pods"), help: "Let the hollow nodes report their pods Running too (a kubelet's load on top).")
    var reportPods = false

    func validate() throws {
        guard cluster.nodes > 0, pods > 0, clients > 0 else { throw ValidationError("--nodes, --pods and --clients must be positive") }
    }

    final class Bindings: Sendable {
        private let state = Mutex<(created: [String: UInt64], bound: [String: UInt64])>(([:], [:]))
        private let failures = Mutex<[String: Int]>([:])
        func failed(_ message: String) { failures.withLock { $0[message, default: 0] += 1 } }
        var errors: [String: Int] { failures.withLock { $0 } }
        func created(_ name: String, at time: UInt64) { state.withLock { $0.created[name] = time } }
        func bound(_ name: String, at time: UInt64) { state.withLock { state in if state.bound[name] == nil { state.bound[name] = time } } }
        var boundCount: Int { state.withLock { $0.bound.count } }
        var snapshot: (created: [String: UInt64], bound: [String: UInt64]) { state.withLock { $0 } }
    }

    static func create(_ pod: JSONValue, with client: ResourceClient) async -> APIError? {
        do {
            _ = try await client.create(pod)
            return nil
        } catch {
            return error
        }
    }

    func run() async throws {
        bootstrapWarningsOnly()
        let api = try APIClient(access: try cluster.access())
        defer { api.shutdown() }
        let fleet = try BenchFleet(api: api, count: cluster.nodes, leaseRenewInterval: cluster.leaseRenewInterval, reportsPods: reportPods)
        let namespace = cluster.namespace ?? "bench-scheduler-\(fleet.run)"
        try await fleet.waitUntilRegistered(cluster.nodes)
        try await ensureNamespace(namespace, api: api)
        guard let podType = ResourceType.find(group: "", version: "v1", plural: "pods") else { throw CommandFailure("no pods resource") }
        let podClient = ResourceClient(api, podType)
        let bindings = Bindings()
        let start = try await podClient.list(namespace: namespace, limit: 1)
        let watcher = Task {
            try await podClient.watch(namespace: namespace, resourceVersion: start.resourceVersion) { event in
                guard event.object[path: ["spec", "nodeName"]] != nil, let name = event.object[path: ["metadata", "name"]]?.stringValue else { return }
                bindings.bound(name, at: DispatchTime.now().uptimeNanoseconds)
            }
        }
        let began = DispatchTime.now().uptimeNanoseconds
        await withDiscardingTaskGroup { group in
            for client in 0..<clients {
                group.addTask {
                    for index in stride(from: client, to: pods, by: clients) {
                        let name = "pod-\(index)"
                        let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": .string(namespace)],
                                              "spec": ["containers": [["name": "c", "image": "registry.local/pause:3.9",
                                                                       "resources": ["requests": ["cpu": "100m", "memory": "500Mi"]]]]]]
                        bindings.created(name, at: DispatchTime.now().uptimeNanoseconds)
                        if let failure = await Self.create(pod, with: podClient) {
                            bindings.failed(failure.message)
                        }
                    }
                }
            }
        }
        let createdAt = DispatchTime.now().uptimeNanoseconds
        let expected = pods - bindings.errors.values.reduce(0, +)
        let deadline = Date().addingTimeInterval(Double(max(120, pods / 50)))
        while bindings.boundCount < expected && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        watcher.cancel()
        let (created, bound) = bindings.snapshot
        var report = BenchReport(workload: "scheduler")
        report.parameters = ["nodes": String(cluster.nodes), "pods": String(pods), "clients": String(clients),
                             "report-pods": String(reportPods)]
        var latest = began
        for (name, time) in bound {
            latest = max(latest, time)
            if let sent = created[name], time >= sent { report.latency.record(time - sent) }
        }
        report.succeeded = bound.count
        report.seconds = Double(latest - began) / 1e9
        report.errors = bindings.errors
        if bound.count < expected { report.errors["not bound before the deadline", default: 0] += expected - bound.count }
        report.figures["create pods/s"] = Double(pods) / (Double(createdAt - began) / 1e9)
        report.figures["scheduled pods/s"] = report.throughput
        await deleteNamespace(namespace, api: api)
        await fleet.stop()
        if cluster.json {
            print(report.json())
        } else {
            print(report.text().replacingOccurrences(of: "requests/s", with: "pods/s (create to bound)"))
            print(String(format: "%.0f pods/s", report.throughput))
        }
        if report.succeeded == 0 { throw ExitCode.failure }
    }
}

/// `podium bench deploy`: a Deployment of R replicas on hollow nodes — seconds until all are available, then a
/// rolling update of all of them, seconds until it completes.
struct BenchDeploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Benchmark the controllers: a Deployment on hollow nodes until Running, then a rolling update.")

    @OptionGroup var cluster: ClusterBenchOptions

    @Option(help: "The Deployment's replicas.")
    var replicas = 1000

    func validate() throws {
        guard cluster.nodes > 0, replicas > 0 else { throw ValidationError("--nodes and --replicas must be positive") }
    }

    func run() async throws {
        bootstrapWarningsOnly()
        let api = try APIClient(access: try cluster.access())
        defer { api.shutdown() }
        let fleet = try BenchFleet(api: api, count: cluster.nodes, leaseRenewInterval: cluster.leaseRenewInterval)
        let namespace = cluster.namespace ?? "bench-deploy-\(fleet.run)"
        try await fleet.waitUntilRegistered(cluster.nodes)
        try await ensureNamespace(namespace, api: api)
        guard let type = ResourceType.find(group: "apps", version: "v1", plural: "deployments") else { throw CommandFailure("no deployments resource") }
        let deployments = ResourceClient(api, type)
        func deployment(image: String) -> JSONValue {
            ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "bench", "namespace": .string(namespace)],
             "spec": ["replicas": .int(Int64(replicas)), "selector": ["matchLabels": ["app": "bench"]],
                      "template": ["metadata": ["labels": ["app": "bench"]],
                                   "spec": ["containers": [["name": "c", "image": .string(image),
                                                            "resources": ["requests": ["cpu": "10m", "memory": "16Mi"]]]]]]]]
        }
        /// Seconds until the Deployment's status shows every replica updated and available at `generation`.
        func waitForRollout(from began: Date, generation: Int64) async throws -> Double {
            let deadline = began.addingTimeInterval(Double(max(300, replicas / 10)))
            while Date() < deadline {
                let current = try? await deployments.get(namespace: namespace, name: "bench")
                let status = current?["status"]
                if (status?["observedGeneration"]?.intValue ?? 0) >= generation, status?["updatedReplicas"]?.intValue == Int64(replicas),
                   status?["availableReplicas"]?.intValue == Int64(replicas), status?["replicas"]?.intValue == Int64(replicas) {
                    return Date().timeIntervalSince(began)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw CommandFailure("the rollout did not complete within \(Int(deadline.timeIntervalSince(began))) s")
        }
        let began = Date()
        let created = try await deployments.create(deployment(image: "registry.local/app:1"))
        let running = try await waitForRollout(from: began, generation: created[path: ["metadata", "generation"]]?.intValue ?? 1)
        var current = try await deployments.get(namespace: namespace, name: "bench")
        current[path: ["spec", "template", "spec", "containers"]] = deployment(image: "registry.local/app:2")[path: ["spec", "template", "spec", "containers"]]
        let updateBegan = Date()
        let updated = try await deployments.update(current)
        let rolled = try await waitForRollout(from: updateBegan, generation: updated[path: ["metadata", "generation"]]?.intValue ?? 2)
        _ = try? await deployments.delete(namespace: namespace, name: "bench")
        await deleteNamespace(namespace, api: api)
        await fleet.stop()
        var report = BenchReport(workload: "deploy")
        report.parameters = ["nodes": String(cluster.nodes), "replicas": String(replicas)]
        report.succeeded = replicas
        report.seconds = running
        report.figures["seconds until all Running"] = running
        report.figures["seconds for a rolling update of all"] = rolled
        if cluster.json {
            print(report.json())
        } else {
            print("deploy: nodes=\(cluster.nodes) replicas=\(replicas)")
            print(String(format: "  all %d replicas available after %.2f s", replicas, running))
            print(String(format: "  rolling update of all %d completed after %.2f s", replicas, rolled))
            print(String(format: "%.2f s to %d Running", running, replicas))
        }
    }
}
