import Foundation
import Testing
import TestSupport

extension ProcessClusterTests {
    /// The real kubectl 1.32 against `podium apiserver`, on Podium's own 3-member store and on etcd 3.4: the
    /// commands people type, with the answers kube-apiserver gives.
    @Suite struct KubectlTests {
        /// Runs kubectl and checks its exit status and that its output contains each of `contains`.
        @discardableResult
        static func expect(_ server: APIServerProcess, _ arguments: [String], status: Int32 = 0, contains: [String] = [],
                           input: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
            let result = try server.kubectl(arguments, input: input)
            #expect(result.status == status, "kubectl \(arguments.joined(separator: " ")): \(result.all)", sourceLocation: sourceLocation)
            for text in contains {
                #expect(result.all.contains(text), "kubectl \(arguments.joined(separator: " ")) lacks \"\(text)\": \(result.all)",
                        sourceLocation: sourceLocation)
            }
            return result.output
        }

        static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: app
        spec:
          replicas: 2
          selector:
            matchLabels: {app: app}
          template:
            metadata:
              labels: {app: app}
            spec:
              containers:
              - name: c
                image: nginx:1.25
                ports:
                - containerPort: 80
        """

        @Test(arguments: ["podium", "etcd"])
        func kubectlCommandsBehaveAsAgainstKubeAPIServer(backend: String) throws {
            guard APIServerProcess.kubectlIsInstalled else {
                Issue.record("kubectl is not installed at \(APIServerProcess.kubectlPath)")
                return
            }
            let directory = TemporaryDirectory()
            var cluster: LocalCluster?
            var etcd: EtcdProcess?
            let endpoints: [String]
            if backend == "etcd" {
                guard EtcdProcess.isInstalled else {
                    Issue.record("etcd is not installed at \(EtcdProcess.path)")
                    return
                }
                etcd = try EtcdProcess(in: directory)
                endpoints = [etcd!.endpoint]
            } else {
                cluster = try LocalCluster(size: 3)
                try cluster!.startAll()
                _ = try cluster!.waitForLeader()
                endpoints = cluster!.members.map(\.endpoint)
            }
            let server = try APIServerProcess(etcdServers: endpoints, in: directory)
            try server.waitUntilReady()
            defer { withExtendedLifetime((cluster, etcd)) {} }

            try Self.expect(server, ["version"], contains: ["Server Version: v1.32.4"])
            // Over HTTPS with the cluster CA: no token, no access.
            let anonymous = try server.kubectl(["get", "ns", "--token", "wrong"])
            #expect(anonymous.status == 1 && anonymous.all.contains("Unauthorized"), "\(anonymous.all)")
            try Self.expect(server, ["api-resources"], contains: ["deployments", "deploy", "apps/v1", "leases", "coordination.k8s.io/v1"])
            try Self.expect(server, ["get", "ns"], contains: ["default", "kube-system", "kube-public", "kube-node-lease", "Active"])

            // Creates with protobuf bodies.
            try Self.expect(server, ["create", "namespace", "team-a"], contains: ["namespace/team-a created"])
            try Self.expect(server, ["-n", "team-a", "create", "configmap", "cfg", "--from-literal=a=b"], contains: ["configmap/cfg created"])
            try Self.expect(server, ["-n", "team-a", "create", "secret", "generic", "sec", "--from-literal=password=s3cret"],
                            contains: ["secret/sec created"])
            #expect(try Self.expect(server, ["-n", "team-a", "get", "secret", "sec", "-o", "jsonpath={.data.password}"]) == "czNjcmV0")
            try Self.expect(server, ["-n", "team-a", "create", "deployment", "web", "--image=nginx:1.25", "--replicas=3"],
                            contains: ["deployment.apps/web created"])

            // Reads in every output format.
            try Self.expect(server, ["-n", "team-a", "get", "deploy", "web", "-o", "yaml"],
                            contains: ["replicas: 3", "app: web", "image: nginx:1.25", "imagePullPolicy: IfNotPresent", "resourceVersion:"])
            try Self.expect(server, ["-n", "team-a", "get", "deploy", "-o", "json"], contains: ["\"kind\": \"List\"", "\"name\": \"web\""])
            try Self.expect(server, ["-n", "team-a", "get", "deploy", "-o", "wide"], contains: ["CONTAINERS", "IMAGES", "SELECTOR", "nginx:1.25", "app=web"])
            try Self.expect(server, ["-n", "team-a", "get", "deploy,cm", "-o", "name"], contains: ["deployment.apps/web", "configmap/cfg"])
            try Self.expect(server, ["-n", "team-a", "get", "deploy", "-o", "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas"],
                            contains: ["NAME", "REPLICAS", "web", "3"])
            try Self.expect(server, ["-n", "team-a", "describe", "deployment", "web"], contains: ["Name:", "web", "Replicas:", "3 desired"])
            try Self.expect(server, ["get", "deploy", "-A"], contains: ["NAMESPACE", "team-a", "web", "0/3"])

            // apply: created, unchanged, configured; server-side; diff; dry run.
            try Self.expect(server, ["apply", "-f", "-"], contains: ["deployment.apps/app created"], input: Self.deployment)
            try Self.expect(server, ["apply", "-f", "-"], contains: ["deployment.apps/app unchanged"], input: Self.deployment)
            let changed = Self.deployment.replacingOccurrences(of: "nginx:1.25", with: "nginx:1.26")
            try Self.expect(server, ["diff", "-f", "-"], status: 1, contains: ["nginx:1.26"], input: changed)
            try Self.expect(server, ["apply", "-f", "-"], contains: ["deployment.apps/app configured"], input: changed)
            #expect(try Self.expect(server, ["get", "deploy", "app", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}"]) == "nginx:1.26 2")
            try Self.expect(server, ["apply", "--server-side", "-f", "-"], contains: ["deployment.apps/app serverside-applied"],
                            input: changed.replacingOccurrences(of: "replicas: 2", with: "replicas: 4"))
            #expect(try Self.expect(server, ["get", "deploy", "app", "-o", "jsonpath={.spec.replicas}"]) == "4")
            try Self.expect(server, ["create", "configmap", "dry", "--from-literal=a=b", "--dry-run=server"], contains: ["configmap/dry created (server dry run)"])
            try Self.expect(server, ["get", "configmap", "dry"], status: 1, contains: ["Error from server (NotFound): configmaps \"dry\" not found"])

            // Changes: scale, set image, label, annotate, the three patch types.
            try Self.expect(server, ["scale", "deployment", "app", "--replicas=5"], contains: ["deployment.apps/app scaled"])
            try Self.expect(server, ["set", "image", "deployment/app", "c=nginx:2"], contains: ["deployment.apps/app image updated"])
            try Self.expect(server, ["label", "deploy", "app", "tier=front"], contains: ["deployment.apps/app labeled"])
            try Self.expect(server, ["annotate", "deploy", "app", "note=hi"], contains: ["deployment.apps/app annotated"])
            try Self.expect(server, ["patch", "deploy", "app", "--type=json", "-p", #"[{"op":"replace","path":"/spec/replicas","value":1}]"#],
                            contains: ["deployment.apps/app patched"])
            try Self.expect(server, ["patch", "deploy", "app", "--type=merge", "-p", #"{"spec":{"paused":true}}"#], contains: ["patched"])
            try Self.expect(server, ["patch", "deploy", "app", "-p", #"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx:3"}]}}}}"#],
                            contains: ["patched"])
            #expect(try Self.expect(server, ["get", "deploy", "app", "-o", "jsonpath={.spec.replicas} {.spec.paused} {.spec.template.spec.containers[0].image} {.metadata.labels.tier} {.metadata.annotations.note}"])
                    == "1 true nginx:3 front hi")

            // Field ownership: another manager's apply of a field kubectl-patch set conflicts, until forced.
            let replicasOnly = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 7\n"
            try Self.expect(server, ["apply", "--server-side", "--field-manager=ops", "-f", "-"], status: 1,
                            contains: [#"Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1: .spec.replicas"#],
                            input: replicasOnly)
            try Self.expect(server, ["apply", "--server-side", "--field-manager=ops", "--force-conflicts", "-f", "-"],
                            contains: ["deployment.apps/app serverside-applied"], input: replicasOnly)
            #expect(try Self.expect(server, ["get", "deploy", "app", "--show-managed-fields", "-o",
                                             #"jsonpath={.spec.replicas} {.metadata.managedFields[?(@.manager=="ops")].operation}"#]) == "7 Apply")

            // A replace with a stale resourceVersion conflicts.
            let current = try Self.expect(server, ["get", "deploy", "app", "-o", "yaml"])
            try Self.expect(server, ["scale", "deploy", "app", "--replicas=2"])
            try Self.expect(server, ["replace", "-f", "-"], status: 1,
                            contains: ["Error from server (Conflict)", "the object has been modified; please apply your changes to the latest version and try again"],
                            input: current)

            // Selectors and pagination.
            for index in 1...3 { try Self.expect(server, ["create", "configmap", "page-\(index)", "--from-literal=k=v"]) }
            try Self.expect(server, ["get", "configmap", "--chunk-size=1", "-o", "name"], contains: ["configmap/page-1", "configmap/page-2", "configmap/page-3"])
            try Self.expect(server, ["get", "ns", "--field-selector", "metadata.name=team-a"], contains: ["team-a"])
            #expect(try !Self.expect(server, ["get", "ns", "--field-selector", "metadata.name=team-a"]).contains("kube-system"))
            try Self.expect(server, ["get", "deploy", "-A", "-l", "app=web", "-o", "name"], contains: ["deployment.apps/web"])
            try Self.expect(server, ["get", "pods", "--field-selector", "spec.bogus=x"], status: 1, contains: ["field label not supported: spec.bogus"])

            // explain reads the OpenAPI schema.
            try Self.expect(server, ["explain", "deployment.spec.replicas"], contains: ["KIND:", "Deployment", "FIELD: replicas <integer>"])

            // Errors, in kube-apiserver's words.
            try Self.expect(server, ["create", "deployment", "Bad_Name", "--image=x"], status: 1,
                            contains: ["Deployment.apps \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"])
            try Self.expect(server, ["apply", "-f", "-"], status: 1, contains: ["strict decoding error: unknown field \"bogus\""],
                            input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\nbogus: 1\n")
            try Self.expect(server, ["get", "pod", "nope"], status: 1, contains: ["Error from server (NotFound): pods \"nope\" not found"])
            try Self.expect(server, ["create", "namespace", "team-a"], status: 1, contains: ["Error from server (AlreadyExists): namespaces \"team-a\" already exists"])
            try Self.expect(server, ["-n", "nosuchns", "create", "configmap", "x", "--from-literal=a=b"], status: 1,
                            contains: ["namespaces \"nosuchns\" not found"])

            // get -w sees a change made while it watches; delete.
            let watcher = Process()
            watcher.executableURL = URL(fileURLWithPath: APIServerProcess.kubectlPath)
            watcher.arguments = ["get", "configmap", "-w", "--request-timeout=0"]
            watcher.environment = ["KUBECONFIG": server.kubeconfig, "HOME": directory.child("home"), "PATH": "/usr/bin:/bin"]
            let watched = Pipe()
            watcher.standardOutput = watched
            try watcher.run()
            let lines = LineCollector(watched)
            #expect(lines.wait(for: "page-3", timeout: TestTime.seconds(30)), "the watch lists first: \(lines.text)")
            try Self.expect(server, ["create", "configmap", "live", "--from-literal=a=b"])
            #expect(lines.wait(for: "live", timeout: TestTime.seconds(30)), "the watch sees the new object: \(lines.text)")
            kill(watcher.processIdentifier, SIGKILL)
            watcher.waitUntilExit()

            try Self.expect(server, ["delete", "deployment", "app"], contains: ["deployment.apps \"app\" deleted"])
            try Self.expect(server, ["delete", "configmap", "page-1", "page-2"], contains: ["configmap \"page-1\" deleted", "configmap \"page-2\" deleted"])
            try Self.expect(server, ["get", "deploy", "app"], status: 1, contains: ["NotFound"])
            #expect(server.process.isRunning, "the API server is still up: \(server.logTail)")
        }
    }
}

/// Gathers a pipe's output as it comes, so a test can wait for a line.
final class LineCollector: @unchecked Sendable {
    // @unchecked Sendable: `buffer` is guarded by `lock`.
    private var buffer = ""
    private let lock = NSLock()

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        DispatchQueue.global().async {
            while true {
                let data = handle.availableData
                if data.isEmpty { return }
                self.lock.lock()
                self.buffer += String(decoding: data, as: UTF8.self)
                self.lock.unlock()
            }
        }
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return buffer
    }

    /// Waits (bounded) until the output contains `needle`.
    func wait(for needle: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if text.contains(needle) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return text.contains(needle)
    }
}
