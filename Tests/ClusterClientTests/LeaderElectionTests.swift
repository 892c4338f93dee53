import ClusterClient
import Testing
import TestSupport

@Suite struct LeaderElectionTests {
    static let timing = LeaderElection.Timing.default

    @Test func aCandidateTakesAMissingLeaseAndRenewsItEveryRenewPeriod() throws {
        var election = LeaderElection(identity: "a")
        election.observe(nil, at: 0)
        guard case .write(let record) = election.decide(now: 0, wallClock: "t0") else { Issue.record("no write"); return }
        #expect(record.holderIdentity == "a" && record.leaseTransitions == 0 && record.resourceVersion.isEmpty)
        #expect(record.leaseDurationSeconds == 4)
        var stored = record
        stored.resourceVersion = "10"
        election.written(stored, sentAt: 0, now: 0.05)
        #expect(election.isLeading(at: 0.5))
        election.observe(stored, at: 0.5)
        #expect(election.decide(now: 0.5, wallClock: "t") == .wait(until: 1))
        guard case .write(let renewal) = election.decide(now: 1, wallClock: "t1") else { Issue.record("no renewal"); return }
        #expect(renewal.renewTime == "t1" && renewal.resourceVersion == "10" && renewal.acquireTime == "t0")
        // No renewal succeeds: leadership lapses at the renew deadline after the last successful one was sent.
        #expect(election.isLeading(at: 2.99))
        #expect(!election.isLeading(at: 3))
    }

    @Test func aStandbyWaitsOutTheLeaseFromWhenItSawItChange() throws {
        var standby = LeaderElection(identity: "b")
        let held = LeaseRecord(holderIdentity: "a", leaseDurationSeconds: 4, acquireTime: "t", renewTime: "t", leaseTransitions: 2,
                               resourceVersion: "7")
        standby.observe(held, at: 10)
        #expect(standby.decide(now: 10, wallClock: "") == .wait(until: 14))
        standby.observe(held, at: 13.9)
        #expect(standby.decide(now: 13.9, wallClock: "").isWait)
        // Renewed meanwhile: the wait starts again.
        var renewed = held
        renewed.renewTime = "t2"
        renewed.resourceVersion = "8"
        standby.observe(renewed, at: 13.95)
        #expect(standby.decide(now: 16, wallClock: "").isWait)
        standby.observe(renewed, at: 18)
        guard case .write(let taken) = standby.decide(now: 18, wallClock: "t3") else { Issue.record("not taken"); return }
        #expect(taken.holderIdentity == "b" && taken.leaseTransitions == 3 && taken.resourceVersion == "8")
        #expect(!standby.isLeading(at: 18))
        // A released Lease (no holder) is taken at once, without a transition counted for nobody.
        var other = LeaderElection(identity: "c")
        other.observe(LeaseRecord(holderIdentity: "", leaseDurationSeconds: 1, acquireTime: "", renewTime: "", leaseTransitions: 3,
                                  resourceVersion: "9"), at: 0)
        guard case .write(let fresh) = other.decide(now: 0, wallClock: "") else { Issue.record("not taken"); return }
        #expect(fresh.leaseTransitions == 3)
    }

    @Test func unsafeTimingIsRefused() {
        #expect(LeaderElection.Timing.default.problem == nil)
        #expect(LeaderElection.Timing(leaseDuration: 2, renewDeadline: 2, renewPeriod: 1, retryPeriod: 0.5).problem != nil)
        #expect(LeaderElection.Timing(leaseDuration: 4, renewDeadline: 3, renewPeriod: 3, retryPeriod: 0.5).problem != nil)
    }

    /// Three instances against a compare-and-swap Lease store, with random request delays, lost answers (whose
    /// writes may still have been applied), and instances frozen for seconds: never two leading at once, and
    /// someone leads most of the time.
    @Test(arguments: 0..<40)
    func neverTwoLeadersUnderRandomDelaysLossesAndPauses(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var server = LeaseServer()
        var instances = (0..<3).map { SimulatedInstance(election: LeaderElection(identity: "i\($0)"), nextStep: Double($0) * 0.1) }
        var time = 0.0
        var ledTime = 0.0
        let step = 0.01
        while time < 120 {
            for index in instances.indices { instances[index].advance(to: time, server: &server, random: &random) }
            let leaders = instances.filter { $0.election.isLeading(at: time) }.count
            #expect(leaders <= 1, "seed \(seed): \(leaders) leaders at \(time)")
            if leaders > 1 { return }
            if leaders == 1 { ledTime += step }
            time += step
        }
        #expect(ledTime > 60, "seed \(seed): led only \(ledTime) s of 120")
    }
}

extension LeaderElection.Decision {
    var isWait: Bool {
        if case .wait = self { return true }
        return false
    }
}

/// The API server's side: one Lease, written only when the resourceVersion matches.
struct LeaseServer {
    var record: LeaseRecord?
    var version = 0

    mutating func write(_ record: LeaseRecord) -> LeaseRecord? {
        guard record.resourceVersion == (self.record?.resourceVersion ?? "") else { return nil }
        version += 1
        var stored = record
        stored.resourceVersion = String(version)
        self.record = stored
        return stored
    }
}

/// One instance's shell, simulated: reads, then writes what the core decides; each request reaches the server
/// after a random delay and its answer comes back after another (or never); sometimes the instance freezes.
struct SimulatedInstance {
    enum Pending {
        case read(serverAt: Double, answerAt: Double, answer: LeaseRecord??)
        case write(LeaseRecord, sentAt: Double, serverAt: Double, answerAt: Double, lost: Bool, result: LeaseRecord??)
    }

    var election: LeaderElection
    var nextStep: Double
    var pending: Pending?

    mutating func advance(to now: Double, server: inout LeaseServer, random: inout SeededRandom) {
        switch pending {
        case .read(let serverAt, let answerAt, let answer):
            var answer = answer
            if answer == nil, now >= serverAt { answer = .some(server.record) }
            if now >= answerAt, let seen = answer {
                election.observe(seen, at: now)
                pending = nil
                if case .write(let record) = election.decide(now: now, wallClock: "w\(now)") {
                    let (toServer, back) = Self.delays(&random)
                    pending = .write(record, sentAt: now, serverAt: now + toServer, answerAt: now + toServer + back,
                                     lost: random.chance(0.1), result: nil)
                } else {
                    nextStep = now + election.timing.retryPeriod
                }
            } else {
                pending = .read(serverAt: serverAt, answerAt: answerAt, answer: answer)
            }
        case .write(let record, let sentAt, let serverAt, let answerAt, let lost, let result):
            var result = result
            if result == nil, now >= serverAt { result = .some(server.write(record)) }
            if now >= answerAt, let outcome = result {
                if !lost, let stored = outcome { election.written(stored, sentAt: sentAt, now: now) }
                pending = nil
                nextStep = now + election.timing.retryPeriod
            } else {
                pending = .write(record, sentAt: sentAt, serverAt: serverAt, answerAt: answerAt, lost: lost, result: result)
            }
        case nil:
            guard now >= nextStep else { return }
            if random.chance(0.01) {
                // Frozen (a GC pause, a stopped process): nothing happens for a while.
                nextStep = now + Double(random.int(1...6000)) / 1000
                return
            }
            let (toServer, back) = Self.delays(&random)
            pending = .read(serverAt: now + toServer, answerAt: now + toServer + back, answer: nil)
        }
    }

    static func delays(_ random: inout SeededRandom) -> (Double, Double) {
        let slow = random.chance(0.05)
        let bound = slow ? 2500 : 80
        return (Double(random.int(1...bound)) / 1000, Double(random.int(1...bound)) / 1000)
    }
}
