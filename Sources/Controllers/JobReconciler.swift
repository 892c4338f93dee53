import Resources

/// The Job controller's decision for one Job, pure: keep `parallelism` pods running until `completions` pods
/// have succeeded (Indexed Jobs: one success per index 0..<completions), recreate failed ones after a back-off
/// (10 s doubling, at most 6 min) until more than `backoffLimit` have failed, stop at `activeDeadlineSeconds`,
/// and report active/ready/succeeded/failed with the Complete or Failed condition. A finished Job with
/// `ttlSecondsAfterFinished` is deleted that long after it finished.
public struct JobReconciler: Sendable {
    public static let indexAnnotation = "batch.kubernetes.io/job-completion-index"

    public enum Action: Sendable, Equatable {
        /// Create these pods (from the template; Indexed Jobs' carry their index).
        case create([JSONValue])
        case delete([PodView])
        case updateStatus(JSONValue)
        case event(type: String, reason: String, message: String)
        /// Delete the Job itself (its TTL after finishing ran out).
        case deleteJob
        case requeue(after: Double)
    }

    public init() {}

    /// - Parameters: `pods` are the pods the Job controls; `now` is wall-clock seconds.
    public func reconcile(_ job: JSONValue, pods: [PodView], expectationsSatisfied: Bool, now: Double) -> [Action] {
        let status = job["status"] ?? [:]
        let spec = job["spec"] ?? [:]
        if let finished = Self.finishedAt(status) {
            guard let ttl = spec["ttlSecondsAfterFinished"]?.intValue else { return [] }
            let due = finished + Double(ttl)
            return now >= due ? [.deleteJob] : [.requeue(after: due - now)]
        }
        let active = pods.filter(\.isActive)
        let succeeded = pods.filter { $0.phase == "Succeeded" }
        let failed = pods.filter { $0.phase == "Failed" }
        let parallelism = Int(spec["parallelism"]?.intValue ?? 1)
        let completions = spec["completions"]?.intValue.map { Int($0) }
        let indexed = spec["completionMode"]?.stringValue == "Indexed"
        let backoffLimit = Int(spec["backoffLimit"]?.intValue ?? 6)
        let suspended = spec["suspend"]?.boolValue ?? false
        var actions: [Action] = []
        var next = status
        next["startTime"] = status["startTime"] ?? (suspended ? nil : .string(RFC3339.format(now)))
        let start = next["startTime"]?.stringValue.flatMap(RFC3339.parse) ?? now
        var conditions = status["conditions"]?.arrayValue ?? []

        let succeededIndexes = Set(succeeded.compactMap(Self.index))
        let complete: Bool
        if indexed, let completions {
            complete = (0..<completions).allSatisfy { succeededIndexes.contains($0) }
        } else if let completions {
            complete = succeeded.count >= completions
        } else {
            complete = !succeeded.isEmpty && active.isEmpty
        }
        var failure: (reason: String, message: String)?
        if failed.count > backoffLimit {
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        } else if let deadline = spec["activeDeadlineSeconds"]?.intValue, !suspended, now >= start + Double(deadline) {
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        }
        var keep = active
        if let failure {
            actions.append(.delete(active))
            keep = []
            Self.set(&conditions, "Failed", failure.reason, failure.message, now: now)
            actions.append(.event(type: "Warning", reason: failure.reason, message: failure.message))
        } else if complete {
            actions.append(.delete(active))
            keep = []
            Self.set(&conditions, "Complete", nil, nil, now: now)
            next["completionTime"] = .string(RFC3339.format(now))
            actions.append(.event(type: "Normal", reason: "Completed", message: "Job completed"))
        } else if suspended {
            actions.append(.delete(active))
            keep = []
        } else if expectationsSatisfied {
            let (creates, deletes, wait) = plan(job, active: active, succeeded: succeeded, failed: failed, succeededIndexes: succeededIndexes,
                                                parallelism: parallelism, completions: completions, indexed: indexed, now: now)
            if !creates.isEmpty { actions.append(.create(creates)) }
            if !deletes.isEmpty {
                actions.append(.delete(deletes))
                let gone = Set(deletes.map(\.uid))
                keep = active.filter { !gone.contains($0.uid) }
            }
            if let wait { actions.append(.requeue(after: wait)) }
            if let deadline = spec["activeDeadlineSeconds"]?.intValue {
                actions.append(.requeue(after: max(0.1, start + Double(deadline) - now)))
            }
        }
        func count(_ field: String, _ value: Int) { next[field] = value > 0 || field == "active" && status[field] != nil ? .int(Int64(value)) : nil }
        count("active", keep.count)
        count("ready", keep.filter(\.isReady).count)
        count("succeeded", succeeded.count)
        count("failed", failed.count)
        if indexed {
            let text = Self.ranges(succeededIndexes.sorted())
            next["completedIndexes"] = text.isEmpty ? nil : .string(text)
        }
        next["conditions"] = conditions.isEmpty ? nil : .array(conditions)
        if next != status { actions.append(.updateStatus(next)) }
        return actions
    }

    func plan(_ job: JSONValue, active: [PodView], succeeded: [PodView], failed: [PodView], succeededIndexes: Set<Int>,
              parallelism: Int, completions: Int?, indexed: Bool, now: Double) -> (creates: [JSONValue], deletes: [PodView], wait: Double?) {
        let remaining = completions.map { max(0, $0 - (indexed ? succeededIndexes.count : succeeded.count)) }
        let wanted = remaining.map { min(parallelism, $0) } ?? (succeeded.isEmpty ? parallelism : 0)
        if active.count > wanted {
            return ([], Array(active.sorted(by: PodView.deletesBefore).prefix(active.count - wanted)), nil)
        }
        guard active.count < wanted else { return ([], [], nil) }
        // After failures, wait out the back-off before replacing them.
        if !failed.isEmpty {
            let delay = min(360, 10 * pow2(failed.count - 1))
            let last = failed.map(Self.finishedAt).max() ?? now
            if now < last + delay { return ([], [], last + delay - now) }
        }
        var creates: [JSONValue] = []
        if indexed, let completions {
            let busy = Set(active.compactMap(Self.index)).union(succeededIndexes)
            for index in 0..<completions where !busy.contains(index) && creates.count < wanted - active.count {
                creates.append(Self.pod(for: job, index: index))
            }
        } else {
            creates = Array(repeating: Self.pod(for: job, index: nil), count: wanted - active.count)
        }
        return (creates, [], nil)
    }

    private func pow2(_ exponent: Int) -> Double { Double(1 << min(max(exponent, 0), 20)) }

    static func index(_ pod: PodView) -> Int? {
        pod.object[path: ["metadata", "annotations", indexAnnotation]]?.stringValue.flatMap { Int($0) }
    }

    /// When a failed pod stopped (its containers' finish time), else when it was created.
    static func finishedAt(_ pod: PodView) -> Double {
        let finishes = (pod.object[path: ["status", "containerStatuses"]]?.arrayValue ?? []).compactMap {
            $0[path: ["state", "terminated", "finishedAt"]]?.stringValue.flatMap(RFC3339.parse)
        }
        return finishes.max() ?? pod.created
    }

    /// When the Job finished (a true Complete or Failed condition), if it did.
    static func finishedAt(_ status: JSONValue) -> Double? {
        let done = (status["conditions"]?.arrayValue ?? []).first { ($0["type"] == "Complete" || $0["type"] == "Failed") && $0["status"] == "True" }
        guard let done else { return nil }
        return (status["completionTime"]?.stringValue ?? done["lastTransitionTime"]?.stringValue).flatMap(RFC3339.parse) ?? 0
    }

    static func set(_ conditions: inout [JSONValue], _ type: String, _ reason: String?, _ message: String?, now: Double) {
        let stamp = JSONValue.string(RFC3339.format(now))
        var condition: JSONValue = ["type": .string(type), "status": "True", "lastProbeTime": stamp, "lastTransitionTime": stamp]
        if let reason { condition["reason"] = .string(reason) }
        if let message { condition["message"] = .string(message) }
        conditions.removeAll { $0["type"] == .string(type) }
        conditions.append(condition)
    }

    /// "0-2,5" for [0, 1, 2, 5].
    static func ranges(_ indexes: [Int]) -> String {
        var parts: [String] = []
        var index = 0
        while index < indexes.count {
            var end = index
            while end + 1 < indexes.count && indexes[end + 1] == indexes[end] + 1 { end += 1 }
            parts.append(end == index ? String(indexes[index]) : "\(indexes[index])-\(indexes[end])")
            index = end + 1
        }
        return parts.joined(separator: ",")
    }

    /// A pod of the Job from its template, named after it, the Job as controller; Indexed pods carry their index.
    public static func pod(for job: JSONValue, index: Int?) -> JSONValue {
        let template = job[path: ["spec", "template"]] ?? [:]
        let name = job[path: ["metadata", "name"]]?.stringValue ?? "job"
        var metadata: JSONValue = [
            "generateName": .string(index.map { "\(name)-\($0)-" } ?? "\(name)-"),
            "namespace": job[path: ["metadata", "namespace"]] ?? "default",
            "ownerReferences": [OwnerReference(controllerOf: job, apiVersion: "batch/v1", kind: "Job").json],
        ]
        metadata["labels"] = template[path: ["metadata", "labels"]] ?? [:]
        if let annotations = template[path: ["metadata", "annotations"]] { metadata["annotations"] = annotations }
        var spec = template["spec"] ?? [:]
        if let index {
            metadata[path: ["annotations", indexAnnotation]] = .string(String(index))
            metadata[path: ["labels", indexAnnotation]] = .string(String(index))
            spec["hostname"] = .string("\(name)-\(index)")
            var containers = spec["containers"]?.arrayValue ?? []
            for position in containers.indices {
                var env = containers[position]["env"]?.arrayValue ?? []
                env.append(["name": "JOB_COMPLETION_INDEX", "value": .string(String(index))])
                containers[position]["env"] = .array(env)
            }
            spec["containers"] = .array(containers)
        }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec]
    }
}
