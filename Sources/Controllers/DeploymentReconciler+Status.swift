import Resources

/// The end of each step: the Deployment's revision annotation, the cleanup of old revisions beyond
/// revisionHistoryLimit, auto-revert, and the status with Kubernetes' Available and Progressing conditions.
extension Plan {
    mutating func finish(new: ReplicaSetView?, old: [ReplicaSetView], created: Bool) {
        let all = old + (new.map { [$0] } ?? [])
        if let new {
            let revision = String(newRevision ?? new.revision)
            if deployment[path: ["metadata", "annotations", ReplicaSetView.revisionAnnotation]]?.stringValue != revision {
                rewrite { $0[path: ["metadata", "annotations", ReplicaSetView.revisionAnnotation]] = .string(revision) }
            }
        }
        let status = self.status(new: new, all: all, created: created)
        let complete = Self.isComplete(status, replicas: replicas)
        if complete || (recreate && new != nil) { cleanUpHistory(old) }
        if let new { autoRevert(new: new, old: old, status: status, complete: complete) }
        if let rewritten { actions.append(.updateDeployment(rewritten)) }
        if status != (deployment["status"] ?? [:]) { actions.append(.updateStatus(status)) }
        if !complete, !paused, let deadline = deployment[path: ["spec", "progressDeadlineSeconds"]]?.intValue,
           let progressing = Self.condition("Progressing", in: status),
           !["ProgressDeadlineExceeded", "NewReplicaSetAvailable"].contains(progressing["reason"]?.stringValue ?? ""),
           let since = progressing["lastUpdateTime"]?.stringValue.flatMap(RFC3339.parse) {
            actions.append(.requeue(after: max(1, since + Double(deadline) - now + 0.5)))
        }
    }

    mutating func rewrite(_ change: (inout JSONValue) -> Void) {
        var object = rewritten ?? deployment
        change(&object)
        rewritten = object
    }

    /// Deletes old sets beyond revisionHistoryLimit, oldest revision first, skipping any that still has pods or
    /// whose controller has not caught up with it (Kubernetes' cleanupDeployment).
    mutating func cleanUpHistory(_ old: [ReplicaSetView]) {
        let limit = Int(deployment[path: ["spec", "revisionHistoryLimit"]]?.intValue ?? 10)
        let sorted = old.sorted { $0.revision < $1.revision }
        for set in sorted.prefix(max(0, sorted.count - limit)) where set.replicas == 0 && set.reportedReplicas == 0 && !set.statusIsStale {
            actions.append(.deleteReplicaSet(name: set.name, uid: set.uid))
        }
    }

    /// A rollout past its progress deadline, on a Deployment that asks for it, goes back to the newest revision
    /// that did not fail; the failed set is marked so that no later revert returns to it. A set marked failed that
    /// then completes (a transient failure) loses the mark.
    mutating func autoRevert(new: ReplicaSetView, old: [ReplicaSetView], status: JSONValue, complete: Bool) {
        let touchesNew = actions.contains { action in
            if case .updateReplicaSet(let object) = action { return object[path: ["metadata", "uid"]]?.stringValue == new.uid }
            if case .createReplicaSet = action { return true }
            return false
        }
        guard !touchesNew, new.uid != "" else { return }
        let marked = new.object[path: ["metadata", "annotations", DeploymentReconciler.failedRolloutAnnotation]] != nil
        if complete {
            if marked {
                var object = new.object
                object[path: ["metadata", "annotations", DeploymentReconciler.failedRolloutAnnotation]] = nil
                actions.append(.updateReplicaSet(object))
            }
            return
        }
        guard deployment[path: ["metadata", "annotations", DeploymentReconciler.autoRevertAnnotation]]?.stringValue == "true",
              Self.condition("Progressing", in: status)?["reason"] == "ProgressDeadlineExceeded",
              let target = old.filter({ $0.revision > 0 && $0.object[path: ["metadata", "annotations", DeploymentReconciler.failedRolloutAnnotation]] == nil })
                  .max(by: { $0.revision < $1.revision }) else { return }
        var failed = new.object
        failed[path: ["metadata", "annotations", DeploymentReconciler.failedRolloutAnnotation]] = .string(RFC3339.format(now))
        actions.append(.updateReplicaSet(failed))
        rewrite { $0[path: ["spec", "template"]] = target.templateWithoutHash }
        let deadline = deployment[path: ["spec", "progressDeadlineSeconds"]]?.intValue ?? 600
        actions.append(.event(type: "Warning", reason: "AutoReverted",
                              message: "Rolled back to revision \(target.revision): revision \(newRevision ?? new.revision) did not progress within \(deadline) seconds"))
    }

    func status(new: ReplicaSetView?, all: [ReplicaSetView], created: Bool) -> JSONValue {
        let previous = deployment["status"] ?? [:]
        let available = all.reduce(0) { $0 + $1.availableReplicas }
        var status: JSONValue = [:]
        status["observedGeneration"] = deployment[path: ["metadata", "generation"]] ?? 1
        let fields: [(String, Int)] = [
            ("replicas", all.reduce(0) { $0 + $1.reportedReplicas }),
            ("updatedReplicas", new?.reportedReplicas ?? 0),
            ("readyReplicas", all.reduce(0) { $0 + $1.readyReplicas }),
            ("availableReplicas", available),
            ("unavailableReplicas", max(0, all.reduce(0) { $0 + $1.replicas } - available)),
        ]
        for (field, value) in fields where value > 0 { status[field] = .int(Int64(value)) }
        if let collisions = previous["collisionCount"] { status["collisionCount"] = collisions }
        var conditions = previous["conditions"]?.arrayValue ?? []
        if available >= replicas - maxUnavailable {
            Self.set(&conditions, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now: now)
        } else {
            Self.set(&conditions, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now: now)
        }
        let current = conditions.first { $0["type"] == "Progressing" }
        let setName = new?.name ?? ""
        // A finished rollout that is only being resynced (or scaled) is not estimated again, as Kubernetes does.
        let settled = current?["reason"] == "NewReplicaSetAvailable" && status["replicas"] == status["updatedReplicas"] && !created
        if settled && !paused {
            // Nothing to estimate.
        } else if paused {
            Self.set(&conditions, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now: now)
        } else if current?["reason"] == "DeploymentPaused" {
            Self.set(&conditions, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now: now)
        } else if created {
            Self.set(&conditions, "Progressing", "True", "NewReplicaSetCreated", "Created new replica set \"\(setName)\"", now: now)
        } else if new != nil && current == nil {
            Self.set(&conditions, "Progressing", "True", "FoundNewReplicaSet", "Found new replica set \"\(setName)\"", now: now)
        } else if new != nil && Self.isComplete(status, replicas: replicas) {
            Self.set(&conditions, "Progressing", "True", "NewReplicaSetAvailable", "ReplicaSet \"\(setName)\" has successfully progressed.", now: now)
        } else if new != nil && Self.madeProgress(from: previous, to: status) {
            Self.set(&conditions, "Progressing", "True", "ReplicaSetUpdated", "ReplicaSet \"\(setName)\" is progressing.",
                     now: now, refresh: true)
        } else if new != nil, let current, current["reason"] != "NewReplicaSetAvailable",
                  let deadline = deployment[path: ["spec", "progressDeadlineSeconds"]]?.intValue,
                  let since = current["lastUpdateTime"]?.stringValue.flatMap(RFC3339.parse), since + Double(deadline) < now {
            Self.set(&conditions, "Progressing", "False", "ProgressDeadlineExceeded", "ReplicaSet \"\(setName)\" has timed out progressing.", now: now)
        }
        if !conditions.isEmpty { status["conditions"] = .array(conditions) }
        return status
    }

    static func condition(_ type: String, in status: JSONValue) -> JSONValue? {
        status["conditions"]?.arrayValue?.first { $0["type"] == .string(type) }
    }

    static func isComplete(_ status: JSONValue, replicas: Int) -> Bool {
        func count(_ field: String) -> Int { Int(status[field]?.intValue ?? 0) }
        return count("updatedReplicas") == replicas && count("replicas") == replicas && count("availableReplicas") == replicas
    }

    /// Kubernetes' test for progress: more updated, ready or available pods, or fewer old ones.
    static func madeProgress(from old: JSONValue, to new: JSONValue) -> Bool {
        func count(_ status: JSONValue, _ field: String) -> Int { Int(status[field]?.intValue ?? 0) }
        return count(new, "updatedReplicas") > count(old, "updatedReplicas")
            || count(new, "replicas") - count(new, "updatedReplicas") < count(old, "replicas") - count(old, "updatedReplicas")
            || count(new, "readyReplicas") > count(old, "readyReplicas")
            || count(new, "availableReplicas") > count(old, "availableReplicas")
    }

    /// Sets a condition as Kubernetes does: unchanged if status and reason are the same (unless `refresh`, which
    /// moves lastUpdateTime); the transition time kept while the status stays.
    static func set(_ conditions: inout [JSONValue], _ type: String, _ status: String, _ reason: String, _ message: String,
                    now: Double, refresh: Bool = false) {
        let stamp = JSONValue.string(RFC3339.format(now))
        let index = conditions.firstIndex { $0["type"] == .string(type) }
        if let index, conditions[index]["status"] == .string(status), conditions[index]["reason"] == .string(reason), !refresh {
            return
        }
        let transition = index.flatMap { conditions[$0]["status"] == .string(status) ? conditions[$0]["lastTransitionTime"] : nil } ?? stamp
        let condition: JSONValue = ["type": .string(type), "status": .string(status), "reason": .string(reason),
                                    "message": .string(message), "lastUpdateTime": stamp, "lastTransitionTime": transition]
        if let index { conditions[index] = condition } else { conditions.append(condition) }
    }
}
