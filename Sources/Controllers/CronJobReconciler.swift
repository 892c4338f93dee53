import Resources

/// The CronJob controller's decision for one CronJob, pure: at each scheduled time (the latest one missed, if it is
/// within startingDeadlineSeconds) it creates a Job named `<cronjob>-<minutes since the epoch>` from the
/// jobTemplate — unless one is still running and concurrencyPolicy is Forbid (it waits) or Replace (the running one
/// is deleted first) — keeps successfulJobsHistoryLimit/failedJobsHistoryLimit finished Jobs, and reports active,
/// lastScheduleTime and lastSuccessfulTime.
public struct CronJobReconciler: Sendable {
    public static let scheduledAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

    public enum Action: Sendable, Equatable {
        case createJob(JSONValue)
        case deleteJob(name: String, uid: String)
        case updateStatus(JSONValue)
        case event(type: String, reason: String, message: String)
        case requeue(after: Double)
    }

    public init() {}

    static func finished(_ job: JSONValue) -> String? {
        (job[path: ["status", "conditions"]]?.arrayValue ?? []).first {
            ($0["type"] == "Complete" || $0["type"] == "Failed") && $0["status"] == "True"
        }?["type"]?.stringValue
    }

    /// - Parameters: `jobs` are the Jobs the CronJob controls; `now` is wall-clock seconds.
    public func reconcile(_ cronJob: JSONValue, jobs: [JSONValue], now: Double) -> [Action] {
        let name = cronJob[path: ["metadata", "name"]]?.stringValue ?? ""
        let spec = cronJob["spec"] ?? [:]
        var actions: [Action] = []
        let schedule: CronSchedule
        do {
            schedule = try CronSchedule(spec["schedule"]?.stringValue ?? "")
        } catch {
            return [.event(type: "Warning", reason: "UnparseableSchedule", message: "unparseable schedule: \(error.message)")]
        }
        if let zone = spec["timeZone"]?.stringValue, !["UTC", "Etc/UTC"].contains(zone) {
            return [.event(type: "Warning", reason: "UnknownTimeZone", message: "invalid timeZone: \"\(zone)\": only UTC is supported")]
        }
        let active = jobs.filter { Self.finished($0) == nil && $0[path: ["metadata", "deletionTimestamp"]] == nil }
        var activeNames = Set(active.compactMap { $0[path: ["metadata", "name"]]?.stringValue })
        var status = cronJob["status"] ?? [:]

        // History: the newest finished Jobs within the limits stay.
        for (kind, limit) in [("Complete", spec["successfulJobsHistoryLimit"]?.intValue ?? 3), ("Failed", spec["failedJobsHistoryLimit"]?.intValue ?? 1)] {
            let finished = jobs.filter { Self.finished($0) == kind }.sorted { Self.started($0) < Self.started($1) }
            for job in finished.prefix(max(0, finished.count - Int(limit))) {
                actions.append(.deleteJob(name: job[path: ["metadata", "name"]]?.stringValue ?? "", uid: job[path: ["metadata", "uid"]]?.stringValue ?? ""))
                actions.append(.event(type: "Normal", reason: "SuccessfulDelete", message: "Deleted job \(job[path: ["metadata", "name"]]?.stringValue ?? "")"))
            }
        }
        if let latest = jobs.filter({ Self.finished($0) == "Complete" }).compactMap({ $0[path: ["status", "completionTime"]]?.stringValue }).max() {
            status["lastSuccessfulTime"] = .string(latest)
        }

        let created = cronJob[path: ["metadata", "creationTimestamp"]]?.stringValue.flatMap(RFC3339.parse) ?? now
        let last = status["lastScheduleTime"]?.stringValue.flatMap(RFC3339.parse) ?? created
        var due: Double?
        var cursor = last
        var missed = 0
        while let time = schedule.next(after: cursor), time <= now, missed < 1_000 {
            due = time
            cursor = time
            missed += 1
        }
        if missed > 100 {
            actions.append(.event(type: "Warning", reason: "TooManyMissedTimes",
                                  message: "too many missed start times: \(missed). Set or decrease .spec.startingDeadlineSeconds or check clock skew"))
        }
        let suspended = spec["suspend"]?.boolValue ?? false
        if let due, !suspended {
            let deadline = spec["startingDeadlineSeconds"]?.intValue
            let jobName = "\(name)-\(Int64(due / 60))"
            if let deadline, now - due > Double(deadline) {
                actions.append(.event(type: "Warning", reason: "MissSchedule",
                                      message: "Missed scheduled time to start a job: \(RFC3339.format(due))"))
            } else if jobs.contains(where: { $0[path: ["metadata", "name"]]?.stringValue == jobName }) {
                status["lastScheduleTime"] = .string(RFC3339.format(due))
            } else {
                let policy = spec["concurrencyPolicy"]?.stringValue ?? "Allow"
                if policy == "Forbid" && !active.isEmpty {
                    actions.append(.event(type: "Normal", reason: "JobAlreadyActive", message: "Not starting job because prior execution is running and concurrency policy is Forbid"))
                } else {
                    if policy == "Replace" {
                        for job in active {
                            let jobName = job[path: ["metadata", "name"]]?.stringValue ?? ""
                            actions.append(.deleteJob(name: jobName, uid: job[path: ["metadata", "uid"]]?.stringValue ?? ""))
                            actions.append(.event(type: "Normal", reason: "SuccessfulDelete", message: "Deleted job \(jobName)"))
                            activeNames.remove(jobName)
                        }
                    }
                    actions.append(.createJob(Self.job(for: cronJob, named: jobName, scheduled: due)))
                    actions.append(.event(type: "Normal", reason: "SuccessfulCreate", message: "Created job \(jobName)"))
                    activeNames.insert(jobName)
                    status["lastScheduleTime"] = .string(RFC3339.format(due))
                }
            }
        }
        let namespace = cronJob[path: ["metadata", "namespace"]] ?? "default"
        let references = jobs.filter { activeNames.contains($0[path: ["metadata", "name"]]?.stringValue ?? "") }.map { job -> JSONValue in
            ["kind": "Job", "apiVersion": "batch/v1", "namespace": namespace, "name": job[path: ["metadata", "name"]] ?? "",
             "uid": job[path: ["metadata", "uid"]] ?? ""]
        }.sorted { ($0["name"]?.stringValue ?? "") < ($1["name"]?.stringValue ?? "") }
        status["active"] = references.isEmpty ? nil : .array(references)
        if status != (cronJob["status"] ?? [:]) { actions.append(.updateStatus(status)) }
        if !suspended, let next = schedule.next(after: max(now, cursor)) { actions.append(.requeue(after: max(0.5, next - now + 0.1))) }
        return actions
    }

    static func started(_ job: JSONValue) -> Double {
        (job[path: ["metadata", "annotations", scheduledAnnotation]]?.stringValue ?? job[path: ["metadata", "creationTimestamp"]]?.stringValue)
            .flatMap(RFC3339.parse) ?? 0
    }

    /// The Job for the time `scheduled`, from the jobTemplate, the CronJob as controller.
    public static func job(for cronJob: JSONValue, named name: String, scheduled: Double) -> JSONValue {
        let template = cronJob[path: ["spec", "jobTemplate"]] ?? [:]
        var metadata = template["metadata"] ?? [:]
        metadata["name"] = .string(name)
        metadata["namespace"] = cronJob[path: ["metadata", "namespace"]] ?? "default"
        metadata[path: ["annotations", scheduledAnnotation]] = .string(RFC3339.format(scheduled))
        metadata["ownerReferences"] = [OwnerReference(controllerOf: cronJob, apiVersion: "batch/v1", kind: "CronJob").json]
        return ["apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template["spec"] ?? [:]]
    }
}
