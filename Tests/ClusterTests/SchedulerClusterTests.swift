import ClusterClient
import Foundation
import Resources
import Testing
import TestSupport

extension ProcessClusterTests {
    /// The scheduler in a real 3-master `podium up` cluster: it places pods within the nodes' allocatable, says why
    /// a pod fits nowhere, and moves to another master within the lease when its master is killed -9.
    @Suite struct SchedulerClusterTests {
        static func node(_ name: String) -> JSONValue {
            ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(name), "labels": ["kubernetes.io/hostname": .string(name)]],
             "status": ["allocatable": ["cpu": "2", "memory": "4Gi", "pods": "110"], "capacity": ["cpu": "2", "memory": "4Gi", "pods": "110"]]]
        }

        static func pod(_ name: String, cpu: String) -> JSONValue {
            ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"],
             "spec": ["containers": [["name": "c", "image": "registry.local/app:1", "resources": ["requests": ["cpu": .string(cpu)]]]]]]
        }

        /// Creates, retrying what a client retries while masters fail over.
        static func create(_ client: ResourceClient, _ object: JSONValue) async throws {
            var attempt = 0
            while true {
                attempt += 1
                let failure: APIError
                do {
                    _ = try await client.create(object)
                    return
                } catch {
                    failure = error
                }
                if failure.isAlreadyExists { return }
                guard failure.isTransient, attempt < 20 else { throw failure }
                try await Task.sleep(for: .milliseconds(250))
            }
        }

        @Test func podsAreBoundWithinCapacityAndTheSchedulerSurvivesItsMaster() async throws {
            let tools = try LocalCluster(size: 0)
            let dataDirectory = tools.directory.child("cluster")
            let base = try UpCommandTests.freeBasePort()
            defer { _ = try? tools.podium(["down", "--data-dir", dataDirectory]) }
            let up = try tools.podium(["up", "--data-dir", dataDirectory, "--base-port", "\(base)", "--apiserver-port", "\(base + 6)"])
            try #require(up.status == 0, "\(up.error)")

            let api = try APIClient(access: ClusterAccess(kubeconfig: dataDirectory + "/kubeconfig"))
            defer { api.shutdown() }
            let nodes = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "nodes")))
            let pods = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "pods")))
            let events = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "events")))
            let leases = ResourceClient(api, try #require(ResourceType.find(group: "coordination.k8s.io", version: "v1", plural: "leases")))
            for index in 1...3 { try await Self.create(nodes, Self.node("n\(index)")) }
            for index in 0..<30 { try await Self.create(pods, Self.pod("p\(index)", cpu: "150m")) }
            try await Self.create(pods, Self.pod("big", cpu: "3"))

            func bound() async throws -> [String: String] {
                let list = try await pods.list(namespace: "default")
                var placement: [String: String] = [:]
                for pod in list.items {
                    if let node = pod[path: ["spec", "nodeName"]]?.stringValue, let name = pod[path: ["metadata", "name"]]?.stringValue {
                        placement[name] = node
                    }
                }
                return placement
            }
            let placed = try await eventually { let now = try await bound(); return now.count == 30 ? now : nil }
            #expect(placed?.count == 30 && placed?["big"] == nil, "bound: \(String(describing: placed))")
            var perNode: [String: Int] = [:]
            for node in (placed ?? [:]).values { perNode[node, default: 0] += 1 }
            #expect(perNode.values.allSatisfy { $0 * 150 <= 2000 } && perNode.count == 3, "\(perNode)")

            let failed = try await eventually {
                try await events.list(namespace: "default", fieldSelector: "reason=FailedScheduling").items.first
            }
            #expect(failed?["message"]?.stringValue == "0/3 nodes are available: 3 Insufficient cpu.")
            #expect(failed?[path: ["involvedObject", "name"]] == "big")
            let big = try await pods.get(namespace: "default", name: "big")
            let condition = big[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "PodScheduled" }
            #expect(condition?["status"] == "False" && condition?["reason"] == "Unschedulable", "\(String(describing: condition))")

            // Retried after a change (a pod leaves) and failing alike, it counts up its one Event, as client-go's
            // correlator does, and its condition, already saying so, is not written again.
            let unchanged = big[path: ["metadata", "resourceVersion"]]
            _ = try await pods.delete(namespace: "default", name: "p0", gracePeriodSeconds: 0)
            let repeated = try await eventually { () -> [JSONValue]? in
                let list = try await events.list(namespace: "default", fieldSelector: "reason=FailedScheduling,involvedObject.name=big")
                return list.items.contains { ($0["count"]?.intValue ?? 0) >= 2 } ? list.items : nil
            }
            #expect(repeated?.count == 1, "\(String(describing: repeated))")
            #expect(try await pods.get(namespace: "default", name: "big")[path: ["metadata", "resourceVersion"]] == unchanged)

            // kill -9 the master whose scheduler is active: another one's takes the Lease and binds new pods.
            let holder = LeaseRecord(lease: try await leases.get(namespace: "kube-system", name: "kube-scheduler")).holderIdentity
            #expect(["master1", "master2", "master3"].contains(holder))
            let killedAt = ContinuousClock.now
            #expect(try tools.podium(["kill", holder, "--data-dir", dataDirectory]).status == 0)
            let successor = try await eventually(every: .milliseconds(100)) { () -> String? in
                let record = try? await leases.get(namespace: "kube-system", name: "kube-scheduler")
                let identity = record.map { LeaseRecord(lease: $0).holderIdentity }
                return identity.flatMap { $0 != holder && !$0.isEmpty ? $0 : nil }
            }
            let takeover = ContinuousClock.now - killedAt
            #expect(successor != nil)
            // The lease (4 s) + 1 s, plus what a loaded machine adds; the measured figure is in the closing note.
            #expect(takeover < .seconds(TestTime.seconds(4 + 1 + 2)), "took over after \(takeover)")
            for index in 30..<35 { try await Self.create(pods, Self.pod("p\(index)", cpu: "150m")) }
            let after = try await eventually { let now = try await bound(); return now.count == 34 ? now : nil }
            #expect(after?.count == 34)
        }
    }
}

extension ProcessClusterTests.SchedulerClusterTests {
    /// `podium hollow-nodes` against a `podium up` cluster: its nodes register Ready with Leases, and the pods the
    /// scheduler binds to them are reported Running with IPs, Succeeded when meant to exit, and removed when deleted.
    @Test func hollowNodesAnswerThePodsBoundToThem() async throws {
        let tools = try LocalCluster(size: 0)
        let dataDirectory = tools.directory.child("cluster")
        let base = try ProcessClusterTests.UpCommandTests.freeBasePort()
        defer { _ = try? tools.podium(["down", "--data-dir", dataDirectory]) }
        let up = try tools.podium(["up", "--data-dir", dataDirectory, "--base-port", "\(base)", "--apiserver-port", "\(base + 6)"])
        try #require(up.status == 0, "\(up.error)")
        let hollow = Process()
        hollow.executableURL = URL(fileURLWithPath: LocalCluster.podiumPath)
        hollow.arguments = ["hollow-nodes", "--count", "5", "--kubeconfig", dataDirectory + "/kubeconfig", "--run-seconds", "0.5"]
        let log = tools.directory.child("hollow.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        hollow.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        hollow.standardError = hollow.standardOutput
        try hollow.run()
        defer { kill(hollow.processIdentifier, SIGKILL); hollow.waitUntilExit() }

        let api = try APIClient(access: ClusterAccess(kubeconfig: dataDirectory + "/kubeconfig"))
        defer { api.shutdown() }
        let nodes = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "nodes")))
        let pods = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "pods")))
        let leases = ResourceClient(api, try #require(ResourceType.find(group: "coordination.k8s.io", version: "v1", plural: "leases")))
        let registered = try await eventually { () -> Int? in
            let list = try? await nodes.list()
            let ready = (list?.items ?? []).filter { node in
                node[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "True" } == true
            }
            return ready.count == 5 ? 5 : nil
        }
        #expect(registered == 5, "hollow-nodes log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let nodeLeases = try await eventually { () -> Int? in
            let count = (try? await leases.list(namespace: "kube-node-lease"))?.items.count ?? 0
            return count == 5 ? count : nil
        }
        #expect(nodeLeases == 5)

        for index in 0..<10 { try await Self.create(pods, Self.pod("web-\(index)", cpu: "100m")) }
        var job = Self.pod("once", cpu: "100m")
        job[path: ["spec", "restartPolicy"]] = "Never"
        try await Self.create(pods, job)
        let running = try await eventually { () -> [JSONValue]? in
            let items = (try? await pods.list(namespace: "default"))?.items ?? []
            let web = items.filter { $0[path: ["metadata", "name"]]?.stringValue?.hasPrefix("web-") == true && $0[path: ["status", "phase"]] == "Running" }
            return web.count == 10 ? web : nil
        }
        #expect(running?.count == 10)
        #expect(running?.allSatisfy { ($0[path: ["status", "podIP"]]?.stringValue ?? "").hasPrefix("10.") } == true)
        let succeeded = try await eventually { () -> Bool? in
            (try? await pods.get(namespace: "default", name: "once"))?[path: ["status", "phase"]] == "Succeeded" ? true : nil
        }
        #expect(succeeded == true)

        // A graceful delete (30 s by default) ends as soon as the hollow kubelet has "stopped" the containers.
        try await pods.delete(namespace: "default", name: "web-0")
        let gone = try await eventually(within: 20) { () -> Bool? in
            do {
                _ = try await pods.get(namespace: "default", name: "web-0")
                return nil
            } catch let error as APIError {
                return error.isNotFound ? true : nil
            }
        }
        #expect(gone == true)
    }
}
