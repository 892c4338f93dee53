import Controllers
import Resources
import Testing

@Suite struct CronScheduleTests {
    /// 2026-12-02T10:07:00Z, a Wednesday.
    static let wednesday = RFC3339.parse("2026-12-02T10:07:00Z") ?? 0

    func next(_ schedule: String, after time: Double = wednesday) throws -> String? {
        try CronSchedule(schedule).next(after: time).map(RFC3339.format)
    }

    @Test func fieldsListsRangesStepsAndNames() throws {
        #expect(try next("*/15 * * * *") == "2026-12-02T10:15:00Z")
        #expect(try next("0 9-17/4 * * *") == "2026-12-02T13:00:00Z")
        #expect(try next("30 8 * * MON,fri") == "2026-12-04T08:30:00Z")
        #expect(try next("0 0 1 jan *") == "2027-01-01T00:00:00Z")
        #expect(try next("@hourly") == "2026-12-02T11:00:00Z")
        #expect(try next("@weekly") == "2026-12-06T00:00:00Z")
        #expect(try next("0 0 * * 7") == "2026-12-06T00:00:00Z")
        #expect(try next("0 0 29 2 *") == "2028-02-29T00:00:00Z")
    }

    @Test func bothDayFieldsMatchEither() throws {
        // The 15th, or any Friday: Friday the 4th comes first.
        #expect(try next("0 0 15 * 5") == "2026-12-04T00:00:00Z")
    }

    @Test func theNextTimeIsStrictlyLater() throws {
        #expect(try next("7 10 * * *") == "2026-12-03T10:07:00Z")
    }

    @Test func badSchedulesSayWhy() {
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule("* * * *") }
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule("61 * * * *") }
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule("*/0 * * * *") }
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule("TZ=Europe/Paris 0 * * * *") }
    }
}

@Suite struct CronJobReconcilerTests {
    static let now = RFC3339.parse("2026-12-02T10:07:30Z") ?? 0

    static func cronJob(policy: String = "Allow", lastSchedule: String? = "2026-12-02T10:06:00Z", deadline: Int64? = nil) -> JSONValue {
        var object: JSONValue = [
            "metadata": ["name": "tick", "namespace": "default", "uid": "cj-uid", "creationTimestamp": "2026-12-01T00:00:00Z"],
            "spec": ["schedule": "* * * * *", "concurrencyPolicy": .string(policy), "successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 1,
                     "jobTemplate": ["metadata": ["labels": ["app": "tick"]], "spec": ["template": ["spec": ["containers": [["name": "c", "image": "i"]]]]]]],
            "status": [:],
        ]
        if let lastSchedule { object[path: ["status", "lastScheduleTime"]] = .string(lastSchedule) }
        if let deadline { object[path: ["spec", "startingDeadlineSeconds"]] = .int(deadline) }
        return object
    }

    static func job(_ name: String, finished: String? = nil, scheduled: String) -> JSONValue {
        var job: JSONValue = ["metadata": ["name": .string(name), "uid": .string(name),
                                           "annotations": [CronJobReconciler.scheduledAnnotation: .string(scheduled)]]]
        if let finished {
            job[path: ["status", "conditions"]] = [["type": .string(finished), "status": "True"]]
            job[path: ["status", "completionTime"]] = .string(scheduled)
        }
        return job
    }

    func createdNames(_ actions: [CronJobReconciler.Action]) -> [String] {
        actions.compactMap { if case .createJob(let job) = $0 { job[path: ["metadata", "name"]]?.stringValue } else { nil } }
    }

    @Test func aDueTimeCreatesItsJobNamedAfterTheMinute() {
        let actions = CronJobReconciler().reconcile(Self.cronJob(), jobs: [], now: Self.now)
        let minute = Int64((RFC3339.parse("2026-12-02T10:07:00Z") ?? 0) / 60)
        #expect(createdNames(actions) == ["tick-\(minute)"])
        let status = actions.compactMap { if case .updateStatus(let status) = $0 { status } else { nil } }.first
        #expect(status?["lastScheduleTime"] == "2026-12-02T10:07:00Z")
        // The next minute starts 30 s later.
        #expect(actions.contains(.requeue(after: 30.1)))
    }

    @Test func forbidWaitsAndReplaceDeletesTheRunningOne() {
        let running = Self.job("tick-old", scheduled: "2026-12-02T10:06:00Z")
        let forbid = CronJobReconciler().reconcile(Self.cronJob(policy: "Forbid"), jobs: [running], now: Self.now)
        #expect(createdNames(forbid).isEmpty)
        let replace = CronJobReconciler().reconcile(Self.cronJob(policy: "Replace"), jobs: [running], now: Self.now)
        #expect(replace.contains(.deleteJob(name: "tick-old", uid: "tick-old")) && createdNames(replace).count == 1)
    }

    @Test func aTimeMissedPastTheStartingDeadlineIsSkipped() {
        let late = CronJobReconciler().reconcile(Self.cronJob(deadline: 10), jobs: [], now: Self.now)
        #expect(createdNames(late).isEmpty)
        #expect(late.contains { if case .event(_, "MissSchedule", _) = $0 { true } else { false } })
    }

    @Test func finishedJobsBeyondTheHistoryLimitsGo() {
        let jobs = [Self.job("a", finished: "Complete", scheduled: "2026-12-02T10:01:00Z"),
                    Self.job("b", finished: "Complete", scheduled: "2026-12-02T10:02:00Z"),
                    Self.job("c", finished: "Complete", scheduled: "2026-12-02T10:03:00Z"),
                    Self.job("d", finished: "Failed", scheduled: "2026-12-02T10:04:00Z"),
                    Self.job("e", finished: "Failed", scheduled: "2026-12-02T10:05:00Z")]
        let actions = CronJobReconciler().reconcile(Self.cronJob(lastSchedule: "2026-12-02T10:07:00Z"), jobs: jobs, now: Self.now)
        let deleted = actions.compactMap { if case .deleteJob(let name, _) = $0 { name } else { nil } }
        #expect(deleted == ["a", "d"])
    }
}
