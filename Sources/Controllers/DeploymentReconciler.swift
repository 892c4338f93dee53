import Resources

/// The Deployment controller's decision for one Deployment, pure: find (or create) the ReplicaSet whose template
/// is the Deployment's, then take one step of the strategy — RollingUpdate scales the new set up within maxSurge
/// and old sets down within maxUnavailable, Recreate scales old sets to zero and starts the new one once their
/// pods are gone — keep revisions and history, and report status with the Available and Progressing conditions.
/// One step per call: the shell writes it, the informers show the result, and the next call takes the next step.
///
/// Beyond Kubernetes: the surge bound counts the pods old sets still report, not only what they want, so no
/// moment of the rollout has more than replicas + maxSurge pods; and a Deployment annotated
/// `podium.dev/auto-revert: "true"` whose rollout misses its progress deadline is rolled back to the last
/// revision that did not fail.
public struct DeploymentReconciler: Sendable {
    public static let autoRevertAnnotation = "podium.dev/auto-revert"
    /// Marks a ReplicaSet whose rollout was reverted, so that auto-revert never goes back to it.
    public static let failedRolloutAnnotation = "podium.dev/rollout-failed"
    static let desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
    static let maxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
    static let revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
    /// Deployment annotations a ReplicaSet does not inherit.
    static let privateAnnotations: Set<String> = [
        "kubectl.kubernetes.io/last-applied-configuration", ReplicaSetView.revisionAnnotation, revisionHistoryAnnotation,
        desiredReplicasAnnotation, maxReplicasAnnotation, "deprecated.deployment.rollback.to", failedRolloutAnnotation,
    ]

    public enum Action: Sendable, Equatable {
        /// Make the Deployment the controller of an orphan set its selector matches.
        case adopt(JSONValue)
        case createReplicaSet(JSONValue)
        /// Replace a set (new replicas, annotations), guarded by its resourceVersion.
        case updateReplicaSet(JSONValue)
        case deleteReplicaSet(name: String, uid: String)
        /// Replace the Deployment's metadata or spec (revision annotation, auto-revert's template).
        case updateDeployment(JSONValue)
        case updateStatus(JSONValue)
        case event(type: String, reason: String, message: String)
        case requeue(after: Double)
    }

    public init() {}

    /// - Parameters: `replicaSets` are the namespace's sets the Deployment controls or its selector matches;
    ///   `runningPods` counts, per set uid, its pods that have not finished, terminating ones included (Recreate
    ///   starts new pods only when the old ones are gone, not merely told to go); `now` is wall-clock seconds.
    ///   `configHash` is the hash of the ConfigMaps and Secrets the template uses, for a Deployment that opts in
    ///   to rolling out when they change (nil otherwise).
    public func reconcile(_ deployment: JSONValue, replicaSets: [JSONValue], runningPods: [String: Int] = [:], configHash: String? = nil,
                          now: Double) -> [Action] {
        guard let selector = try? LabelSelector(object: deployment[path: ["spec", "selector"]]), !selector.isEverything,
              deployment[path: ["metadata", "deletionTimestamp"]] == nil else { return [] }
        if let configHash, deployment[path: ["metadata", "annotations", ConfigReferences.optInAnnotation]]?.stringValue == "true",
           deployment[path: ["spec", "template", "metadata", "annotations", ConfigReferences.hashAnnotation]]?.stringValue != configHash {
            // The configuration changed (or is seen for the first time): the template records it, which rolls out.
            var rewritten = deployment
            rewritten[path: ["spec", "template", "metadata", "annotations", ConfigReferences.hashAnnotation]] = .string(configHash)
            let first = deployment[path: ["spec", "template", "metadata", "annotations", ConfigReferences.hashAnnotation]] == nil
            return [.updateDeployment(rewritten)]
                + (first ? [] : [.event(type: "Normal", reason: "ConfigChanged", message: "Rolling out: a ConfigMap or Secret the pods use changed")])
        }
        var plan = Plan(deployment: deployment, runningPods: runningPods, now: now)
        let uid = deployment[path: ["metadata", "uid"]]?.stringValue ?? ""
        var owned: [ReplicaSetView] = []
        for object in replicaSets {
            let set = ReplicaSetView(object)
            if let controller = set.controller {
                if controller.uid == uid, !set.isTerminating { owned.append(set) }
            } else if selector.matches(set.labels), !set.isTerminating {
                plan.actions.append(.adopt(object))
                owned.append(set)
            }
        }
        plan.decide(owned: owned)
        return plan.actions
    }
}

/// One call's working state: the Deployment, its sets as this step leaves them, and the actions so far.
struct Plan {
    let deployment: JSONValue
    let runningPods: [String: Int]
    let now: Double
    var actions: [DeploymentReconciler.Action] = []
    /// The Deployment as this step rewrites it (revision annotation, auto-revert), written once at the end.
    var rewritten: JSONValue?
    /// The revision the new set has after this step.
    var newRevision: Int?
    let name: String
    let replicas: Int
    let template: JSONValue
    let paused: Bool
    let recreate: Bool
    let maxSurge: Int
    let maxUnavailable: Int

    init(deployment: JSONValue, runningPods: [String: Int], now: Double) {
        self.deployment = deployment
        self.runningPods = runningPods
        self.now = now
        name = deployment[path: ["metadata", "name"]]?.stringValue ?? ""
        replicas = Int(deployment[path: ["spec", "replicas"]]?.intValue ?? 1)
        template = deployment[path: ["spec", "template"]] ?? [:]
        paused = deployment[path: ["spec", "paused"]]?.boolValue ?? false
        recreate = deployment[path: ["spec", "strategy", "type"]]?.stringValue == "Recreate"
        let rolling = deployment[path: ["spec", "strategy", "rollingUpdate"]]
        var surge = IntOrPercent(rolling?["maxSurge"] ?? "25%")?.resolve(replicas, roundUp: true) ?? 0
        var unavailable = IntOrPercent(rolling?["maxUnavailable"] ?? "25%")?.resolve(replicas, roundUp: false) ?? 0
        if recreate { (surge, unavailable) = (0, 0) }
        if !recreate && surge == 0 && unavailable == 0 { unavailable = 1 }
        maxSurge = surge
        maxUnavailable = min(unavailable, replicas)
    }

    mutating func decide(owned: [ReplicaSetView]) {
        var sets = owned.sorted(by: ReplicaSetView.olderFirst)
        let strippedTemplate = ReplicaSetView.withoutHash(template)
        let newIndex = sets.firstIndex { $0.templateWithoutHash == strippedTemplate }
        var newSet = newIndex.map { sets[$0] }
        if let newIndex { sets.remove(at: newIndex) }
        let old = sets
        let maxOldRevision = old.map(\.revision).max() ?? 0

        if paused {
            if let newSet, old.allSatisfy({ $0.replicas == 0 }), newSet.replicas != replicas {
                scale(newSet, to: replicas, revision: nil)
            }
            return finish(new: newSet, old: old, created: false)
        }
        if let current = newSet, current.revision <= maxOldRevision || current.revision == 0 {
            // A set that was old becomes new again (a rollback): it takes the next revision.
            syncRevision(of: current, to: maxOldRevision + 1)
            return finish(new: current, old: old, created: false)
        }
        if recreate {
            if old.contains(where: { $0.replicas > 0 }) {
                for set in old where set.replicas > 0 { scale(set, to: 0, revision: nil) }
                return finish(new: newSet, old: old, created: false)
            }
            if old.contains(where: { $0.reportedReplicas > 0 || runningPods[$0.uid, default: 0] > 0 }) {
                return finish(new: newSet, old: old, created: false)
            }
            guard let current = newSet else {
                newSet = createNewSet(replicas: replicas, revision: maxOldRevision + 1)
                return finish(new: newSet, old: old, created: true)
            }
            if current.replicas != replicas { scale(current, to: replicas, revision: nil) }
            return finish(new: current, old: old, created: false)
        }
        // RollingUpdate: the new set first, then the old ones.
        let oldPods = old.reduce(0) { $0 + $1.podsAtMost }
        guard let current = newSet else {
            let initial = surgeTarget(newReplicas: 0, newPods: 0, oldPods: oldPods)
            newSet = createNewSet(replicas: initial, revision: maxOldRevision + 1)
            return finish(new: newSet, old: old, created: true)
        }
        if current.replicas > replicas {
            scale(current, to: replicas, revision: nil)
            return finish(new: current, old: old, created: false)
        }
        let target = surgeTarget(newReplicas: current.replicas, newPods: current.podsAtMost, oldPods: oldPods)
        if target != current.replicas {
            scale(current, to: target, revision: nil)
            return finish(new: current, old: old, created: false)
        }
        if scaleDownOld(old, new: current) { return finish(new: current, old: old, created: false) }
        finish(new: current, old: old, created: false)
    }

    /// The new set's size: up to replicas + maxSurge pods in all, never beyond replicas.
    func surgeTarget(newReplicas: Int, newPods: Int, oldPods: Int) -> Int {
        let room = replicas + maxSurge - oldPods - newPods
        guard room > 0 else { return newReplicas }
        return newReplicas + min(room, replicas - newReplicas)
    }

    /// Scales old sets down as far as maxUnavailable allows: first their pods that are not available, then
    /// available ones, oldest set first. Whether it changed anything.
    mutating func scaleDownOld(_ old: [ReplicaSetView], new: ReplicaSetView) -> Bool {
        let oldReplicas = old.reduce(0) { $0 + $1.replicas }
        guard oldReplicas > 0 else { return false }
        let allReplicas = oldReplicas + new.replicas
        let minAvailable = replicas - maxUnavailable
        let newUnavailable = max(0, new.replicas - new.availableReplicas)
        let maxScaledDown = allReplicas - minAvailable - newUnavailable
        guard maxScaledDown > 0 else { return false }
        var targets = old.map(\.replicas)
        var cleaned = 0
        for (index, set) in old.enumerated() where targets[index] > 0 && cleaned < maxScaledDown {
            let unhealthy = max(0, set.replicas - set.availableReplicas)
            let down = min(unhealthy, maxScaledDown - cleaned)
            targets[index] -= down
            cleaned += down
        }
        let available = old.reduce(0) { $0 + $1.availableReplicas } + new.availableReplicas
        var budget = max(0, available - minAvailable)
        for index in old.indices where targets[index] > 0 && budget > 0 {
            let down = min(targets[index], budget)
            targets[index] -= down
            budget -= down
        }
        var changed = false
        for (index, set) in old.enumerated() where targets[index] != set.replicas {
            scale(set, to: targets[index], revision: nil)
            changed = true
        }
        return changed
    }

    // MARK: Writes

    /// The annotations a set of this Deployment carries, with `revision`; only the new set takes the
    /// Deployment's own (its change-cause belongs to that revision alone).
    func setAnnotations(base: [String: String], revision: Int?, inheriting: Bool) -> [String: String] {
        var annotations = base
        for (key, value) in deployment[path: ["metadata", "annotations"]]?.stringMap ?? [:]
        where inheriting && !DeploymentReconciler.privateAnnotations.contains(key) {
            annotations[key] = value
        }
        if let revision { annotations[ReplicaSetView.revisionAnnotation] = String(revision) }
        annotations[DeploymentReconciler.desiredReplicasAnnotation] = String(replicas)
        annotations[DeploymentReconciler.maxReplicasAnnotation] = String(replicas + maxSurge)
        return annotations
    }

    mutating func createNewSet(replicas initial: Int, revision: Int) -> ReplicaSetView {
        let collisions = deployment[path: ["status", "collisionCount"]]?.intValue
        let hash = PodTemplateHash.of(template, collisionCount: collisions)
        var podTemplate = template
        podTemplate[path: ["metadata", "labels", ReplicaSetView.hashLabel]] = .string(hash)
        var selector = deployment[path: ["spec", "selector"]] ?? [:]
        selector[path: ["matchLabels", ReplicaSetView.hashLabel]] = .string(hash)
        let namespace = deployment[path: ["metadata", "namespace"]] ?? "default"
        let setName = "\(name)-\(hash)"
        var spec: JSONValue = ["replicas": .int(Int64(initial)), "selector": selector, "template": podTemplate]
        if let minReady = deployment[path: ["spec", "minReadySeconds"]] { spec["minReadySeconds"] = minReady }
        let set: JSONValue = [
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": ["name": .string(setName), "namespace": namespace,
                         "labels": podTemplate[path: ["metadata", "labels"]] ?? [:],
                         "annotations": .strings(setAnnotations(base: [:], revision: revision, inheriting: true)),
                         "ownerReferences": [OwnerReference(controllerOf: deployment, apiVersion: "apps/v1", kind: "Deployment").json]],
            "spec": spec,
        ]
        actions.append(.createReplicaSet(set))
        newRevision = revision
        if initial > 0 {
            actions.append(.event(type: "Normal", reason: "ScalingReplicaSet", message: "Scaled up replica set \(setName) from 0 to \(initial)"))
        }
        return ReplicaSetView(set)
    }

    mutating func scale(_ set: ReplicaSetView, to target: Int, revision: Int?) {
        var object = set.object
        object[path: ["spec", "replicas"]] = .int(Int64(target))
        let base = object[path: ["metadata", "annotations"]]?.stringMap ?? [:]
        let isNew = set.templateWithoutHash == ReplicaSetView.withoutHash(template)
        object[path: ["metadata", "annotations"]] = .strings(setAnnotations(base: base, revision: revision, inheriting: isNew))
        actions.append(.updateReplicaSet(object))
        if target != set.replicas {
            let direction = target > set.replicas ? "up" : "down"
            actions.append(.event(type: "Normal", reason: "ScalingReplicaSet",
                                  message: "Scaled \(direction) replica set \(set.name) from \(set.replicas) to \(target)"))
        }
    }

    mutating func syncRevision(of set: ReplicaSetView, to revision: Int) {
        var object = set.object
        var annotations = setAnnotations(base: object[path: ["metadata", "annotations"]]?.stringMap ?? [:], revision: revision, inheriting: true)
        if set.revision > 0 {
            let history = annotations[DeploymentReconciler.revisionHistoryAnnotation].map { $0 + "," } ?? ""
            annotations[DeploymentReconciler.revisionHistoryAnnotation] = history + String(set.revision)
        }
        object[path: ["metadata", "annotations"]] = .strings(annotations)
        actions.append(.updateReplicaSet(object))
        newRevision = revision
    }
}
