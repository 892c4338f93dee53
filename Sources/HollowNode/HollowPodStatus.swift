import Resources

/// What a hollow node reports for a pod bound to it, pure: Running and Ready at once (with a pod IP and a status
/// per container, as a kubelet would), Succeeded for pods meant to exit (restartPolicy Never or OnFailure) once
/// they have run for `runSeconds`; nothing when the pod is already reported so. A pod annotated
/// `hollow.podium.dev/ready: "false"` runs but never becomes ready — a rollout that cannot progress, for tests.
public enum HollowPodStatus {
    public static let neverReadyAnnotation = "hollow.podium.dev/ready"

    public enum Action: Sendable, Equatable {
        /// Write this status (the whole `status`, through the status subresource).
        case report(JSONValue)
        /// A pod being deleted: its containers "stopped", remove it for good.
        case delete(uid: String)
        /// Check again after this many seconds (a pod meant to exit, still running).
        case recheck(after: Double)
        case nothing
    }

    /// - Parameters: `now` is wall-clock seconds (RFC 3339 timestamps are written into the status).
    public static func next(for pod: JSONValue, hostIP: String, podIP: String, runSeconds: Double, now: Double) -> Action {
        if pod[path: ["metadata", "deletionTimestamp"]] != nil {
            return .delete(uid: pod[path: ["metadata", "uid"]]?.stringValue ?? "")
        }
        let status = pod["status"]
        let phase = status?["phase"]?.stringValue ?? "Pending"
        if phase == "Succeeded" || phase == "Failed" { return .nothing }
        let restartPolicy = pod[path: ["spec", "restartPolicy"]]?.stringValue ?? "Always"
        let exits = restartPolicy != "Always"
        if phase == "Running" {
            guard exits else { return .nothing }
            let started = status?["startTime"]?.stringValue.flatMap(RFC3339.parse) ?? now
            if now < started + runSeconds { return .recheck(after: started + runSeconds - now) }
            return .report(self.status(of: pod, phase: "Succeeded", hostIP: hostIP, podIP: podIP,
                                       startTime: status?["startTime"]?.stringValue ?? RFC3339.format(now), now: now))
        }
        return .report(self.status(of: pod, phase: "Running", hostIP: hostIP, podIP: podIP, startTime: RFC3339.format(now), now: now))
    }

    static func status(of pod: JSONValue, phase: String, hostIP: String, podIP: String, startTime: String, now: Double) -> JSONValue {
        let stamp = RFC3339.format(now)
        let running = phase == "Running"
        let readies = running && pod[path: ["metadata", "annotations", neverReadyAnnotation]]?.stringValue != "false"
        let ready: JSONValue = readies ? "True" : "False"
        func condition(_ type: String, _ value: JSONValue, reason: String? = nil) -> JSONValue {
            var condition: JSONValue = ["type": .string(type), "status": value, "lastTransitionTime": .string(stamp)]
            if let reason { condition["reason"] = .string(reason) }
            return condition
        }
        let uid = pod[path: ["metadata", "uid"]]?.stringValue ?? ""
        let containers = (pod[path: ["spec", "containers"]]?.arrayValue ?? []).map { container -> JSONValue in
            let name = container["name"]?.stringValue ?? ""
            let state: JSONValue = running
                ? ["running": ["startedAt": .string(startTime)]]
                : ["terminated": ["exitCode": 0, "reason": "Completed", "startedAt": .string(startTime), "finishedAt": .string(stamp)]]
            return ["name": .string(name), "image": container["image"] ?? "", "imageID": .string("hollow://\(container["image"]?.stringValue ?? "")"),
                    "containerID": .string("hollow://\(uid)/\(name)"), "ready": .bool(readies), "started": .bool(running),
                    "restartCount": 0, "state": state]
        }
        return [
            "phase": .string(phase),
            "conditions": [condition("PodReadyToStartContainers", "True"), condition("Initialized", "True"),
                           condition("Ready", ready, reason: readies ? nil : running ? "ContainersNotReady" : "PodCompleted"),
                           condition("ContainersReady", ready, reason: readies ? nil : running ? "ContainersNotReady" : "PodCompleted"),
                           condition("PodScheduled", "True")],
            "hostIP": .string(hostIP), "hostIPs": [["ip": .string(hostIP)]],
            "podIP": .string(podIP), "podIPs": [["ip": .string(podIP)]],
            "startTime": .string(startTime),
            "containerStatuses": .array(containers),
        ]
    }
}
