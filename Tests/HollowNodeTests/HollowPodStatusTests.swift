import HollowNode
import Resources
import Testing

@Suite struct HollowPodStatusTests {
    static func pod(restartPolicy: String = "Always", status: JSONValue? = nil, deleting: Bool = false) -> JSONValue {
        var pod: JSONValue = ["metadata": ["name": "p", "namespace": "default", "uid": "u-1"],
                              "spec": ["nodeName": "hollow-node-0", "restartPolicy": .string(restartPolicy),
                                       "containers": [["name": "app", "image": "registry.local/app:1"]]]]
        if let status { pod["status"] = status }
        if deleting { pod[path: ["metadata", "deletionTimestamp"]] = "2026-12-02T00:00:00Z" }
        return pod
    }

    @Test func aBoundPodIsReportedRunningAndReadyOnce() throws {
        guard case .report(let status) = HollowPodStatus.next(for: Self.pod(), hostIP: "10.64.0.1", podIP: "10.128.0.7",
                                                              runSeconds: 1, now: 1_000) else {
            Issue.record("no report")
            return
        }
        #expect(status["phase"] == "Running" && status["podIP"] == "10.128.0.7" && status["hostIP"] == "10.64.0.1")
        let ready = status["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }
        #expect(ready?["status"] == "True")
        let container = status["containerStatuses"]?.arrayValue?.first
        #expect(container?["ready"] == true && container?[path: ["state", "running", "startedAt"]] != nil)
        #expect(HollowPodStatus.next(for: Self.pod(status: status), hostIP: "", podIP: "", runSeconds: 1, now: 1_001) == .nothing)
    }

    @Test func aPodMeantToExitSucceedsAfterItsRunTime() throws {
        guard case .report(let running) = HollowPodStatus.next(for: Self.pod(restartPolicy: "Never"), hostIP: "h", podIP: "p",
                                                               runSeconds: 2, now: 1_000) else {
            Issue.record("no report")
            return
        }
        #expect(HollowPodStatus.next(for: Self.pod(restartPolicy: "Never", status: running), hostIP: "h", podIP: "p",
                                     runSeconds: 2, now: 1_000.5) == .recheck(after: 1.5))
        guard case .report(let done) = HollowPodStatus.next(for: Self.pod(restartPolicy: "Never", status: running), hostIP: "h",
                                                            podIP: "p", runSeconds: 2, now: 1_002) else {
            Issue.record("no completion")
            return
        }
        #expect(done["phase"] == "Succeeded")
        #expect(done["containerStatuses"]?.arrayValue?.first?[path: ["state", "terminated", "exitCode"]] == 0)
        #expect(HollowPodStatus.next(for: Self.pod(restartPolicy: "Never", status: done), hostIP: "h", podIP: "p",
                                     runSeconds: 2, now: 2_000) == .nothing)
    }

    @Test func aPodBeingDeletedIsRemoved() {
        #expect(HollowPodStatus.next(for: Self.pod(deleting: true), hostIP: "", podIP: "", runSeconds: 1, now: 0) == .delete(uid: "u-1"))
    }
}

@Suite struct HollowNeverReadyTests {
    @Test func aPodAskedNotToBecomeReadyRunsUnready() {
        let pod: JSONValue = ["metadata": ["name": "p", "uid": "u", "annotations": [HollowPodStatus.neverReadyAnnotation: "false"]],
                              "spec": ["containers": [["name": "c", "image": "i"]]]]
        guard case .report(let status) = HollowPodStatus.next(for: pod, hostIP: "10.64.0.1", podIP: "10.128.0.2", runSeconds: 1, now: 1_700_000_000) else {
            Issue.record("no status reported")
            return
        }
        #expect(status["phase"] == "Running")
        let ready = status["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }
        #expect(ready?["status"] == "False" && ready?["reason"] == "ContainersNotReady")
        #expect(status["containerStatuses"]?.arrayValue?.first?["ready"] == false)
    }
}
