import Controllers
import Resources
import Testing

@Suite struct JobReconcilerTests {
    static let now = 1_700_000_000.0

    static func job(completions: Int64? = 5, parallelism: Int64 = 2, backoffLimit: Int64 = 6, indexed: Bool = false,
                    deadline: Int64? = nil, ttl: Int64? = nil, status: JSONValue = [:]) -> JSONValue {
        var spec: JSONValue = ["parallelism": .int(parallelism), "backoffLimit": .int(backoffLimit),
                               "completionMode": indexed ? "Indexed" : "NonIndexed",
                               "template": ["metadata": ["labels": ["job-name": "pi"]],
                                            "spec": ["restartPolicy": "Never", "containers": [["name": "pi", "image": "perl"]]]]]
        if let completions { spec["completions"] = .int(completions) }
        if let deadline { spec["activeDeadlineSeconds"] = .int(deadline) }
        if let ttl { spec["ttlSecondsAfterFinished"] = .int(ttl) }
        return ["metadata": ["name": "pi", "namespace": "default", "uid": "job-uid"], "spec": spec, "status": status]
    }

    static func pod(_ name: String, phase: String, index: Int? = nil, finishedAgo: Double = 100) -> PodView {
        var pod: JSONValue = ["metadata": ["name": .string(name), "namespace": "default", "uid": .string(name),
                                           "creationTimestamp": .string(RFC3339.format(now - 1000))],
                              "spec": ["nodeName": "n1"], "status": ["phase": .string(phase)]]
        if let index { pod[path: ["metadata", "annotations"]] = [JobReconciler.indexAnnotation: .string(String(index))] }
        if phase == "Failed" || phase == "Succeeded" {
            pod[path: ["status", "containerStatuses"]] = [["name": "pi", "state": ["terminated": ["finishedAt": .string(RFC3339.format(now - finishedAgo))]]]]
        }
        return PodView(pod)
    }

    func reconcile(_ job: JSONValue, _ pods: [PodView]) -> [JobReconciler.Action] {
        JobReconciler().reconcile(job, pods: pods, expectationsSatisfied: true, now: Self.now)
    }

    func created(_ actions: [JobReconciler.Action]) -> [JSONValue] {
        actions.compactMap { if case .create(let pods) = $0 { pods } else { nil } }.first ?? []
    }

    func status(_ actions: [JobReconciler.Action]) -> JSONValue? {
        actions.compactMap { if case .updateStatus(let status) = $0 { status } else { nil } }.first
    }

    @Test func itRunsParallelismPodsUntilCompletionsSucceed() {
        #expect(created(reconcile(Self.job(), [])).count == 2)
        let someDone = [Self.pod("a", phase: "Succeeded"), Self.pod("b", phase: "Succeeded"), Self.pod("c", phase: "Succeeded"),
                        Self.pod("d", phase: "Running")]
        // Two left to succeed, one running: one more.
        #expect(created(reconcile(Self.job(), someDone)).count == 1)
        let allDone = (0..<5).map { Self.pod("p\($0)", phase: "Succeeded") }
        let actions = reconcile(Self.job(), allDone)
        let complete = status(actions)?["conditions"]?.arrayValue?.first
        #expect(complete?["type"] == "Complete" && complete?["status"] == "True")
        #expect(status(actions)?["succeeded"] == 5 && status(actions)?["completionTime"] != nil)
        #expect(actions.contains(.event(type: "Normal", reason: "Completed", message: "Job completed")))
    }

    @Test func failedPodsAreReplacedAfterTheirBackOff() {
        let recent = [Self.pod("f", phase: "Failed", finishedAgo: 4)]
        let waiting = reconcile(Self.job(completions: 1, parallelism: 1), recent)
        #expect(created(waiting).isEmpty && waiting.contains(.requeue(after: 6)))
        let old = [Self.pod("f", phase: "Failed", finishedAgo: 11)]
        #expect(created(reconcile(Self.job(completions: 1, parallelism: 1), old)).count == 1)
    }

    @Test func pastTheBackoffLimitTheJobFails() {
        let failures = (0..<3).map { Self.pod("f\($0)", phase: "Failed") } + [Self.pod("r", phase: "Running")]
        let actions = reconcile(Self.job(backoffLimit: 2), failures)
        let failed = status(actions)?["conditions"]?.arrayValue?.first
        #expect(failed?["type"] == "Failed" && failed?["reason"] == "BackoffLimitExceeded")
        #expect(failed?["message"] == "Job has reached the specified backoff limit")
        #expect(actions.contains(.delete([failures[3]])))
    }

    @Test func pastItsActiveDeadlineTheJobFails() {
        let started = Self.job(deadline: 30, status: ["startTime": .string(RFC3339.format(Self.now - 31))])
        let failed = status(reconcile(started, [Self.pod("r", phase: "Running")]))?["conditions"]?.arrayValue?.first
        #expect(failed?["reason"] == "DeadlineExceeded" && failed?["message"] == "Job was active longer than specified deadline")
        let young = Self.job(deadline: 30, status: ["startTime": .string(RFC3339.format(Self.now - 10))])
        #expect(reconcile(young, [Self.pod("a", phase: "Running"), Self.pod("b", phase: "Running")]).contains(.requeue(after: 20)))
    }

    @Test func indexedJobsRunEachIndexOnce() {
        let job = Self.job(completions: 3, parallelism: 3, indexed: true)
        let first = created(reconcile(job, []))
        #expect(first.compactMap { $0[path: ["metadata", "annotations", JobReconciler.indexAnnotation]]?.stringValue } == ["0", "1", "2"])
        #expect(first.first?[path: ["spec", "containers"]]?.arrayValue?.first?["env"] == [["name": "JOB_COMPLETION_INDEX", "value": "0"]])
        let pods = [Self.pod("a", phase: "Succeeded", index: 1), Self.pod("b", phase: "Running", index: 0)]
        let actions = reconcile(job, pods)
        #expect(created(actions).compactMap { $0[path: ["metadata", "annotations", JobReconciler.indexAnnotation]]?.stringValue } == ["2"])
        #expect(status(actions)?["completedIndexes"] == "1")
    }

    @Test func aFinishedJobWithATTLIsDeletedWhenItRunsOut() {
        let finished: JSONValue = ["conditions": [["type": "Complete", "status": "True"]], "completionTime": .string(RFC3339.format(Self.now - 5))]
        #expect(reconcile(Self.job(ttl: 10, status: finished), []) == [.requeue(after: 5)])
        #expect(reconcile(Self.job(ttl: 4, status: finished), []) == [.deleteJob])
        #expect(reconcile(Self.job(status: finished), []).isEmpty)
    }
}
