import ClusterClient
import Foundation
import Resources
import Synchronization
import Testing
import TestSupport

/// Follows the pods of a namespace through a watch, as a user's `kubectl get pods -w` would, and keeps the
/// extremes a rollout reached: the most pods not being deleted, and the fewest of them Ready.
final class PodCensus: Sendable {
    private struct State {
        var pods: [String: (active: Bool, ready: Bool)] = [:]
        var most = 0
        var fewestReady = Int.max
        var measuring = false
        var version = ""
    }

    private let state = Mutex(State())

    func apply(_ event: WatchEvent) {
        let object = event.object
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        state.withLock { state in
            if let version = object[path: ["metadata", "resourceVersion"]]?.stringValue { state.version = version }
            switch event.kind {
            case .added, .modified:
                let active = object[path: ["metadata", "deletionTimestamp"]] == nil
                let ready = object[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "True" } == true
                state.pods[name] = (active, ready)
            case .deleted:
                state.pods[name] = nil
            case .bookmark, .error:
                return
            }
            guard state.measuring else { return }
            let active = state.pods.values.filter(\.active)
            state.most = max(state.most, active.count)
            state.fewestReady = min(state.fewestReady, active.filter(\.ready).count)
        }
    }

    var version: String { state.withLock { $0.version } }

    /// Starts measuring extremes from now.
    func measure() {
        state.withLock { state in
            state.measuring = true
            state.most = 0
            state.fewestReady = Int.max
        }
    }

    var extremes: (most: Int, fewestReady: Int) { state.withLock { ($0.most, $0.fewestReady) } }

    var activeCount: Int { state.withLock { $0.pods.values.filter(\.active).count } }

    /// Watches `namespace`'s pods until cancelled, resuming where a watch ended.
    func follow(_ pods: ResourceClient, namespace: String, from version: String) async {
        state.withLock { $0.version = version }
        while !Task.isCancelled {
            try? await pods.watch(namespace: namespace, resourceVersion: self.version, timeoutSeconds: 300) { self.apply($0) }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}

extension ProcessClusterTests {
    /// The controller manager in a real 3-master `podium up` cluster with hollow nodes: kubectl's rollout verbs
    /// work, a rolling update stays within maxSurge and maxUnavailable in every watch event, and the controllers
    /// move to another master when theirs is killed -9, without creating anything twice.
    @Suite struct ControllerClusterTests {
        @Test func deploymentsRollOutWithKubectlAndSurviveTheirMaster() async throws {
            let cluster = try HollowCluster()
            defer { cluster.stop() }
            try cluster.startHollowNodes(4)
            let kubectl = { (arguments: [String]) throws -> LocalCluster.CommandResult in try cluster.kubectl(arguments) }
            let pods = try cluster.resource("", "pods")
            let leases = try cluster.resource("coordination.k8s.io", "leases")
            let census = PodCensus()
            let start = try await pods.list(namespace: "default")
            let watcher = Task { await census.follow(pods, namespace: "default", from: start.resourceVersion) }
            defer { watcher.cancel() }

            let created = try kubectl(["create", "deployment", "web", "--image=registry.local/app:1", "--replicas=8"])
            #expect(created.status == 0, "\(created.error)")
            var status = try kubectl(["rollout", "status", "deployment/web", "--timeout=90s"])
            #expect(status.status == 0 && status.output.contains("successfully rolled out"), "\(status.output) \(status.error)")

            // A rolling update (25 % of 8: at most 10 pods, at least 6 ready), checked on every watch event.
            let settled = try await eventually { census.activeCount == 8 ? true : nil }
            #expect(settled == true)
            census.measure()
            #expect(try kubectl(["set", "image", "deployment/web", "*=registry.local/app:2"]).status == 0)
            status = try kubectl(["rollout", "status", "deployment/web", "--timeout=90s"])
            #expect(status.status == 0, "\(status.output) \(status.error)")
            let extremes = census.extremes
            #expect(extremes.most <= 10 && extremes.fewestReady >= 6, "most pods \(extremes.most), fewest ready \(extremes.fewestReady)")

            let history = try kubectl(["rollout", "history", "deployment/web"])
            #expect(history.output.contains("1 ") && history.output.contains("2 "), "\(history.output)")
            #expect(try kubectl(["rollout", "undo", "deployment/web"]).status == 0)
            status = try kubectl(["rollout", "status", "deployment/web", "--timeout=90s"])
            #expect(status.status == 0, "\(status.output) \(status.error)")
            let image = try kubectl(["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"])
            #expect(image.output == "registry.local/app:1")
            let revision = try kubectl(["get", "deployment", "web", "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"])
            #expect(revision.output == "3")
            #expect(try kubectl(["rollout", "restart", "deployment/web"]).status == 0)
            status = try kubectl(["rollout", "status", "deployment/web", "--timeout=90s"])
            #expect(status.status == 0, "\(status.output) \(status.error)")
            let described = try kubectl(["describe", "deployment", "web"])
            #expect(described.output.contains("ScalingReplicaSet") && described.output.contains("deployment-controller"))

            // kubectl drain: cordon, evict through the Eviction API, and the pods come back on the other nodes.
            let placements = try await pods.list(namespace: "default", labelSelector: "app=web").items
                .filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }.compactMap { $0[path: ["spec", "nodeName"]]?.stringValue }
            let busiest = try #require(Dictionary(grouping: placements) { $0 }.max { $0.value.count < $1.value.count }?.key)
            let drained = try kubectl(["drain", busiest, "--ignore-daemonsets", "--timeout=60s"])
            #expect(drained.status == 0, "\(drained.output) \(drained.error)")
            let moved = try await eventually { () -> Bool? in
                let items = ((try? await pods.list(namespace: "default", labelSelector: "app=web"))?.items ?? [])
                    .filter { $0[path: ["metadata", "deletionTimestamp"]] == nil && $0[path: ["status", "phase"]] == "Running" }
                return items.count == 8 && !items.contains { $0[path: ["spec", "nodeName"]]?.stringValue == busiest } ? true : nil
            }
            #expect(moved == true, "the pods of drained \(busiest) did not come back elsewhere")
            #expect(try kubectl(["uncordon", busiest]).status == 0)

            // kill -9 the master whose controller manager is active: another takes the Lease and goes on, and a
            // scale-up creates exactly the pods asked for.
            let holder = LeaseRecord(lease: try await leases.get(namespace: "kube-system", name: "kube-controller-manager")).holderIdentity
            #expect(["master1", "master2", "master3"].contains(holder))
            let killedAt = ContinuousClock.now
            #expect(try cluster.tools.podium(["kill", holder, "--data-dir", cluster.dataDirectory]).status == 0)
            let successor = try await eventually(every: .milliseconds(100)) { () -> String? in
                let record = try? await leases.get(namespace: "kube-system", name: "kube-controller-manager")
                return record.map { LeaseRecord(lease: $0).holderIdentity }.flatMap { $0 != holder && !$0.isEmpty ? $0 : nil }
            }
            let takeover = ContinuousClock.now - killedAt
            #expect(successor != nil)
            #expect(takeover < .seconds(TestTime.seconds(4 + 1 + 2)), "took over after \(takeover)")
            census.measure()
            var scaled = try kubectl(["scale", "deployment/web", "--replicas=12"])
            for _ in 0..<10 where scaled.status != 0 {
                try await Task.sleep(for: .milliseconds(500))
                scaled = try kubectl(["scale", "deployment/web", "--replicas=12"])
            }
            #expect(scaled.status == 0, "\(scaled.error)")
            status = try kubectl(["rollout", "status", "deployment/web", "--timeout=90s"])
            #expect(status.status == 0, "\(status.output) \(status.error)")
            let count = try await eventually { () -> Int? in
                let items = (try? await pods.list(namespace: "default"))?.items ?? []
                let active = items.filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }
                return active.count == 12 ? 12 : nil
            }
            #expect(count == 12)
            // No watch event ever showed more: nothing was created twice by the old leader and the new one.
            #expect(census.extremes.most == 12, "at most \(census.extremes.most) pods")
        }
    }
}

extension ProcessClusterTests.ControllerClusterTests {
    /// Nodes die (their hollow kubelet killed -9): after the grace period (8 s) they are Unknown and tainted, after
    /// the pods' toleration (10 s) their pods are evicted, and the Deployment's pods run again on the nodes left.
    @Test func podsOfADeadNodeAreReplacedElsewhere() async throws {
        let cluster = try HollowCluster()
        defer { cluster.stop() }
        let doomed = try cluster.startHollowNodes(2, ["--name-prefix", "doomed-"])
        try cluster.startHollowNodes(2, ["--name-prefix", "lasting-"])
        let api = cluster.api
        let pods = try cluster.resource("", "pods")
        let nodes = try cluster.resource("", "nodes")
        let registered = try await eventually { (try? await nodes.list())?.items.count == 4 ? true : nil }
        #expect(registered == true)
        let created = try cluster.kubectl(["create", "deployment", "web", "--image=registry.local/app:1", "--replicas=8"])
        #expect(created.status == 0, "\(created.error)")
        func running() async -> [String: String] {
            let items = (try? await pods.list(namespace: "default"))?.items ?? []
            var placement: [String: String] = [:]
            for pod in items where pod[path: ["metadata", "deletionTimestamp"]] == nil && pod[path: ["status", "phase"]] == "Running" {
                placement[pod[path: ["metadata", "name"]]?.stringValue ?? ""] = pod[path: ["spec", "nodeName"]]?.stringValue
            }
            return placement
        }
        let before = try await eventually { let now = await running(); return now.count == 8 ? now : nil }
        #expect(before?.values.contains { $0.hasPrefix("doomed-") } == true, "\(String(describing: before))")

        kill(doomed.processIdentifier, SIGKILL)
        let killedAt = ContinuousClock.now
        let tainted = try await eventually(every: .milliseconds(200)) { () -> Bool? in
            let list = (try? await nodes.list())?.items ?? []
            let dead = list.filter { ($0[path: ["metadata", "name"]]?.stringValue ?? "").hasPrefix("doomed-") }
            let marked = dead.filter { node in
                node[path: ["spec", "taints"]]?.arrayValue?.contains { $0["key"] == "node.kubernetes.io/unreachable" && $0["effect"] == "NoExecute" } == true
                    && node[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "Unknown" } == true
            }
            return marked.count == 2 ? true : nil
        }
        #expect(tainted == true)
        let after = try await eventually(every: .milliseconds(200)) { () -> [String: String]? in
            let now = await running()
            return now.count == 8 && now.values.allSatisfy({ $0.hasPrefix("lasting-") }) ? now : nil
        }
        let healed = ContinuousClock.now - killedAt
        #expect(after != nil, "pods still on dead nodes or missing")
        // Grace 8 s + toleration 10 s, plus what a loaded machine adds.
        #expect(healed < .seconds(TestTime.seconds(8 + 10 + 15)), "healed after \(healed)")
        let events = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "events")))
        let evictions = try await events.list(namespace: "default", fieldSelector: "reason=TaintManagerEviction").items
        #expect(!evictions.isEmpty)
    }
}

extension ProcessClusterTests.ControllerClusterTests {
    /// A bad control-plane duration is refused when the command line is read, with the flag named, before
    /// anything starts.
    @Test func badControlPlaneDurationsAreRefusedUpFront() throws {
        let tools = try LocalCluster(size: 0)
        for flag in ["--node-monitor-grace-period=0s", "--node-monitor-grace-period=soon", "--leader-elect-renew-period=-1s"] {
            let result = try tools.podium(["master", "--name", "m1", "--data-dir", tools.directory.child("never"), flag])
            let name = String(flag.prefix { $0 != "=" })
            #expect(result.status != 0 && result.error.contains("\(name) ") && result.error.contains("not a positive duration"),
                    "\(flag): \(result.status) \(result.error)")
            #expect(!FileManager.default.fileExists(atPath: tools.directory.child("never")), "\(flag) started the store")
        }
    }

    /// The grace period is the masters' `--node-monitor-grace-period`: with 120 s, nodes that renew their Leases
    /// only every 10 s (the kubelet's cadence, past the default 8 s grace) stay Ready and untainted over three of
    /// their renewals.
    @Test func nodeMonitorGracePeriodIsAFlag() async throws {
        let cluster = try HollowCluster(masterArguments: ["--node-monitor-grace-period=120s"])
        defer { cluster.stop() }
        try cluster.startHollowNodes(2, ["--lease-renew-interval", "10"])
        let nodes = try cluster.resource("", "nodes")
        let registered = try await eventually { (try? await nodes.list())?.items.count == 2 ? true : nil }
        #expect(registered == true)
        let watchedUntil = ContinuousClock.now + .seconds(30)
        var looks = 0
        while ContinuousClock.now < watchedUntil {
            let list = try await nodes.list().items
            let marked = list.filter { node in
                node[path: ["spec", "taints"]]?.arrayValue?.contains { $0["key"] == "node.kubernetes.io/unreachable" } == true
                    || node[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] != "True" } == true
            }.compactMap { $0[path: ["metadata", "name"]]?.stringValue }
            #expect(marked.isEmpty, "marked unreachable within the 120 s grace")
            if !marked.isEmpty { return }
            looks += 1
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(looks > 10)
    }
}

extension ProcessClusterTests.ControllerClusterTests {
    /// Cascading deletes as kubectl asks for them: background (the default) takes the ReplicaSets and pods with
    /// the Deployment, orphan leaves the pods without their owner, foreground removes the owner last.
    @Test func deletesCascadeAsKubectlAsks() async throws {
        let cluster = try HollowCluster()
        defer { cluster.stop() }
        try cluster.startHollowNodes(2)
        let kubectl = { (arguments: [String]) throws -> LocalCluster.CommandResult in try cluster.kubectl(arguments) }
        let api = cluster.api
        let pods = try cluster.resource("", "pods")
        let sets = try cluster.resource("apps", "replicasets")
        let deployments = try cluster.resource("apps", "deployments")
        func count(_ client: ResourceClient, _ selector: String) async -> Int {
            ((try? await client.list(namespace: "default", labelSelector: selector))?.items ?? [])
                .filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }.count
        }
        for name in ["background", "orphan", "foreground"] {
            #expect(try kubectl(["create", "deployment", name, "--image=registry.local/app:1", "--replicas=3"]).status == 0)
        }
        for name in ["background", "orphan", "foreground"] {
            let ready = try await eventually { await count(pods, "app=\(name)") == 3 ? true : nil }
            #expect(ready == true, "\(name) never had its 3 pods")
        }

        // Endpoints follow the pods of a Service; its slices go with it (it owns them).
        #expect(try kubectl(["expose", "deployment", "background", "--port=80", "--target-port=8080"]).status == 0)
        let endpoints = try await eventually { () -> String? in
            let output = try kubectl(["get", "endpoints", "background", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]).output
            return output.split(separator: " ").count == 3 ? output : nil
        }
        #expect(endpoints != nil)
        let slices = ResourceClient(api, try #require(ResourceType.find(group: "discovery.k8s.io", version: "v1", plural: "endpointslices")))
        let sliced = try await eventually { () -> Int? in
            let items = (try? await slices.list(namespace: "default", labelSelector: "kubernetes.io/service-name=background"))?.items ?? []
            let count = items.reduce(0) { $0 + ($1["endpoints"]?.arrayValue?.count ?? 0) }
            return count == 3 ? count : nil
        }
        #expect(sliced == 3)
        #expect(try kubectl(["delete", "deployment", "background"]).status == 0)
        let swept = try await eventually { await count(sets, "app=background") + count(pods, "app=background") == 0 ? true : nil }
        #expect(swept == true, "the ReplicaSet and pods of a deleted Deployment stayed")
        #expect(try kubectl(["delete", "service", "background"]).status == 0)
        let unsliced = try await eventually { () -> Bool? in
            let items = (try? await slices.list(namespace: "default", labelSelector: "kubernetes.io/service-name=background"))?.items
            let endpointsLeft = try kubectl(["get", "endpoints", "background", "-o", "name"]).status == 0
            return items?.isEmpty == true && !endpointsLeft ? true : nil
        }
        #expect(unsliced == true, "the Endpoints or EndpointSlices of a deleted Service stayed")

        // Orphan: the ReplicaSet (and its pods) stay, without the Deployment as owner.
        #expect(try kubectl(["delete", "deployment", "orphan", "--cascade=orphan"]).status == 0)
        let released = try await eventually { () -> Bool? in
            let items = (try? await sets.list(namespace: "default", labelSelector: "app=orphan"))?.items ?? []
            return items.count == 1 && items[0][path: ["metadata", "ownerReferences"]] == nil ? true : nil
        }
        #expect(released == true)
        let deploymentGone = try await eventually { () -> Bool? in
            ((try? await deployments.list(namespace: "default"))?.items ?? []).contains { $0[path: ["metadata", "name"]] == "orphan" } ? nil : true
        }
        #expect(deploymentGone == true)
        #expect(await count(pods, "app=orphan") == 3)

        // Foreground: kubectl waits until the Deployment is gone, which is after its pods.
        let foreground = try kubectl(["delete", "deployment", "foreground", "--cascade=foreground", "--wait=true", "--timeout=60s"])
        #expect(foreground.status == 0, "\(foreground.error)")
        #expect(await count(sets, "app=foreground") + count(pods, "app=foreground") == 0)
    }
}

extension ProcessClusterTests.ControllerClusterTests {
    /// Jobs, StatefulSets and DaemonSets on hollow nodes, driven by kubectl: a Job completes, a StatefulSet's pods
    /// come up in ordinal order with their claims, a DaemonSet puts one pod on each node, and `kubectl rollout
    /// status` agrees for both.
    @Test func jobsStatefulSetsAndDaemonSetsWork() async throws {
        let cluster = try HollowCluster()
        defer { cluster.stop() }
        try cluster.startHollowNodes(3, ["--run-seconds", "0.5"])
        let kubectl = { (arguments: [String], input: String?) throws -> LocalCluster.CommandResult in
            try cluster.kubectl(arguments, manifest: input)
        }
        let api = cluster.api
        let nodes = try cluster.resource("", "nodes")
        let registered = try await eventually { (try? await nodes.list())?.items.count == 3 ? true : nil }
        #expect(registered == true)

        #expect(try kubectl(["create", "job", "pi", "--image=registry.local/app:1"], nil).status == 0)
        let waited = try kubectl(["wait", "--for=condition=complete", "job/pi", "--timeout=60s"], nil)
        #expect(waited.status == 0, "\(waited.output) \(waited.error)")
        let succeeded = try kubectl(["get", "job", "pi", "-o", "jsonpath={.status.succeeded}"], nil)
        #expect(succeeded.output == "1")

        let statefulSet = """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db}
        spec:
          replicas: 3
          serviceName: db
          selector: {matchLabels: {app: db}}
          template:
            metadata: {labels: {app: db}}
            spec: {containers: [{name: db, image: registry.local/app:1}]}
          volumeClaimTemplates:
          - metadata: {name: data}
            spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
        """
        #expect(try kubectl(["apply"], statefulSet).status == 0)
        let rolled = try kubectl(["rollout", "status", "statefulset/db", "--timeout=90s"], nil)
        #expect(rolled.status == 0, "\(rolled.output) \(rolled.error)")
        let pods = ResourceClient(api, try #require(ResourceType.find(group: "", version: "v1", plural: "pods")))
        let members = try await pods.list(namespace: "default", labelSelector: "app=db").items
        let byName = Dictionary(uniqueKeysWithValues: members.map { ($0[path: ["metadata", "name"]]?.stringValue ?? "", $0) })
        #expect(Set(byName.keys) == ["db-0", "db-1", "db-2"])
        // Ordered: each pod was created no earlier than the one before it (resourceVersions of creation grow).
        let created = ["db-0", "db-1", "db-2"].compactMap { byName[$0]?[path: ["metadata", "creationTimestamp"]]?.stringValue.flatMap(RFC3339.parse) }
        #expect(created == created.sorted())
        let claims = try kubectl(["get", "pvc", "-o", "name"], nil)
        #expect(claims.output.contains("data-db-0") && claims.output.contains("data-db-2"), "\(claims.output)")

        let daemonSet = """
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: agent}
        spec:
          selector: {matchLabels: {app: agent}}
          template:
            metadata: {labels: {app: agent}}
            spec: {containers: [{name: agent, image: registry.local/app:1}]}
        """
        #expect(try kubectl(["apply"], daemonSet).status == 0)
        let daemons = try kubectl(["rollout", "status", "daemonset/agent", "--timeout=90s"], nil)
        #expect(daemons.status == 0, "\(daemons.output) \(daemons.error)")
        let placed = try await pods.list(namespace: "default", labelSelector: "app=agent").items.compactMap { $0[path: ["spec", "nodeName"]]?.stringValue }
        #expect(placed.count == 3 && Set(placed).count == 3, "\(placed)")

        // A ResourceQuota refuses what would pass it, in Kubernetes' words; a LimitRange fills in requests; a
        // deleted pod frees its share once the quota controller has counted again.
        let limits = """
        apiVersion: v1
        kind: Namespace
        metadata: {name: limited}
        ---
        apiVersion: v1
        kind: ResourceQuota
        metadata: {name: compute, namespace: limited}
        spec: {hard: {pods: "2", requests.cpu: "1"}}
        ---
        apiVersion: v1
        kind: LimitRange
        metadata: {name: defaults, namespace: limited}
        spec: {limits: [{type: Container, defaultRequest: {cpu: 300m}, default: {cpu: 500m}}]}
        """
        #expect(try kubectl(["apply"], limits).status == 0)
        let counted = try await eventually { () -> Bool? in
            try kubectl(["get", "resourcequota", "compute", "-n", "limited", "-o", "jsonpath={.status.used.pods}"], nil).output == "0" ? true : nil
        }
        #expect(counted == true, "the quota controller never reported usage")
        #expect(try kubectl(["run", "one", "-n", "limited", "--image=registry.local/app:1"], nil).status == 0)
        #expect(try kubectl(["run", "two", "-n", "limited", "--image=registry.local/app:1"], nil).status == 0)
        let request = try kubectl(["get", "pod", "one", "-n", "limited", "-o", "jsonpath={.spec.containers[0].resources.requests.cpu}"], nil)
        #expect(request.output == "300m")
        let refused = try kubectl(["run", "three", "-n", "limited", "--image=registry.local/app:1"], nil)
        #expect(refused.status != 0 && refused.error.contains("exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"),
                "\(refused.error)")
        #expect(try kubectl(["delete", "pod", "one", "-n", "limited", "--grace-period=0", "--force"], nil).status == 0)
        let admitted = try await eventually { () -> Bool? in
            try kubectl(["run", "three", "-n", "limited", "--image=registry.local/app:1"], nil).status == 0 ? true : nil
        }
        #expect(admitted == true, "the quota never freed the deleted pod's share")

        // A Deployment that asks to roll out when its ConfigMap changes does, on the change.
        #expect(try kubectl(["create", "configmap", "settings", "--from-literal=mode=one"], nil).status == 0)
        let configured = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: configured, annotations: {podium.dev/rollout-on-config-change: "true"}}
        spec:
          replicas: 2
          selector: {matchLabels: {app: configured}}
          template:
            metadata: {labels: {app: configured}}
            spec: {containers: [{name: c, image: registry.local/app:1, envFrom: [{configMapRef: {name: settings}}]}]}
        """
        #expect(try kubectl(["apply"], configured).status == 0)
        var status = try kubectl(["rollout", "status", "deployment/configured", "--timeout=90s"], nil)
        #expect(status.status == 0, "\(status.output) \(status.error)")
        let before = try kubectl(["get", "deployment", "configured", "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"], nil).output
        #expect(try kubectl(["patch", "configmap", "settings", "-p", #"{"data":{"mode":"two"}}"#], nil).status == 0)
        let bumped = try await eventually { () -> String? in
            let now = try kubectl(["get", "deployment", "configured", "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"], nil).output
            return now != before && !now.isEmpty ? now : nil
        }
        #expect(bumped != nil, "no new revision after the ConfigMap changed (was \(before))")
        status = try kubectl(["rollout", "status", "deployment/configured", "--timeout=90s"], nil)
        #expect(status.status == 0, "\(status.output) \(status.error)")
    }
}

extension ProcessClusterTests.ControllerClusterTests {
    /// Auto-revert: a Deployment that asks for it and whose new pods never become ready goes back to its last
    /// good revision once its progress deadline passes, and says so in an event.
    @Test func aRolloutThatCannotProgressRevertsItself() async throws {
        let cluster = try HollowCluster()
        defer { cluster.stop() }
        try cluster.startHollowNodes(2)
        let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: steady, annotations: {podium.dev/auto-revert: "true"}}
        spec:
          replicas: 3
          progressDeadlineSeconds: 6
          selector: {matchLabels: {app: steady}}
          template:
            metadata: {labels: {app: steady}}
            spec: {containers: [{name: c, image: registry.local/app:1}]}
        """
        #expect(try cluster.kubectl(["apply"], manifest: deployment).status == 0)
        var status = try cluster.kubectl(["rollout", "status", "deployment/steady", "--timeout=90s"])
        #expect(status.status == 0, "\(status.output) \(status.error)")
        let broken = #"{"spec":{"template":{"metadata":{"annotations":{"hollow.podium.dev/ready":"false"}},"spec":{"containers":[{"name":"c","image":"registry.local/app:2"}]}}}}"#
        #expect(try cluster.kubectl(["patch", "deployment", "steady", "--type", "merge", "-p", broken]).status == 0)
        let reverted = try await eventually(within: 90) { () -> String? in
            let image = try cluster.kubectl(["get", "deployment", "steady", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]).output
            return image == "registry.local/app:1" ? image : nil
        }
        #expect(reverted != nil, "the rollout that could not progress was not reverted")
        status = try cluster.kubectl(["rollout", "status", "deployment/steady", "--timeout=90s"])
        #expect(status.status == 0, "\(status.output) \(status.error)")
        let events = try cluster.resource("", "events")
        let revert = try await events.list(namespace: "default", fieldSelector: "reason=AutoReverted").items.first
        #expect(revert?["message"]?.stringValue?.hasPrefix("Rolled back to revision 1: revision 2 did not progress within 6 seconds") == true,
                "\(String(describing: revert))")
    }
}
