import Foundation
import Testing
import TestSupport

extension ProcessClusterTests {
    /// The real etcdctl (Debian's etcd-client 3.4) against a 3-member Podium store cluster of real processes.
    @Suite struct EtcdctlTests {
        static func startedCluster() throws -> LocalCluster {
            let cluster = try LocalCluster(size: 3)
            try cluster.startAll()
            _ = try cluster.waitForLeader()
            return cluster
        }

        /// The revision a write reported, from `-w json` output.
        static func revision(_ json: String) -> Int64 {
            guard let data = json.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let header = object["header"] as? [String: Any] else { return 0 }
            return (header["revision"] as? NSNumber)?.int64Value ?? 0
        }

        static func count(_ json: String) -> Int64 {
            guard let data = json.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return -1 }
            return (object["count"] as? NSNumber)?.int64Value ?? 0
        }

        @Test func keyValueCommands() throws {
            let cluster = try Self.startedCluster()
            #expect(try cluster.ctl("put", "k1", "v1") == "OK\n")
            let firstRevision = Self.revision(try cluster.ctl("put", "k2", "v2", "-w", "json"))
            #expect(firstRevision >= 3)
            for index in 3...5 { try cluster.ctl("put", "k\(index)", "v\(index)") }
            try cluster.ctl("put", "k2", "v2-new")

            #expect(try cluster.ctl("get", "k1") == "k1\nv1\n")
            #expect(try cluster.ctl("get", "k", "--prefix", "--limit", "2") == "k1\nv1\nk2\nv2-new\n")
            #expect(try cluster.ctl("get", "k", "--prefix", "--keys-only") == "k1\n\nk2\n\nk3\n\nk4\n\nk5\n\n")
            #expect(try cluster.ctl("get", "k", "--prefix", "--sort-by=MODIFY", "--order=DESCEND", "--limit", "1") == "k2\nv2-new\n")
            #expect(try cluster.ctl("get", "k", "--prefix", "--sort-by=VALUE", "--order=DESCEND", "--limit", "1") == "k5\nv5\n")
            #expect(try cluster.ctl("get", "k2", "--rev", "\(firstRevision)") == "k2\nv2\n")
            #expect(try cluster.ctl("get", "k3", "--from-key", "--keys-only") == "k3\n\nk4\n\nk5\n\n")
            #expect(Self.count(try cluster.ctl("get", "k", "--prefix", "-w", "json", "--limit", "1")) == 5)
            #expect(try cluster.ctl("get", "missing") == "")

            #expect(try cluster.ctl("del", "k1", "--prev-kv") == "1\nk1\nv1\n")
            #expect(try cluster.ctl("del", "k4", "k6") == "2\n")
            #expect(try cluster.ctl("get", "k", "--prefix", "--keys-only") == "k2\n\nk3\n\n")

            let txn = "value(\"k2\") = \"v2-new\"\n\nput t yes\n\nput t no\n\n"
            #expect(try cluster.ctl("txn", input: txn) == "SUCCESS\n\nOK\n")
            #expect(try cluster.ctl("get", "t", "--print-value-only") == "yes\n")
            let failing = "mod(\"k3\") < \"2\"\n\nput t yes\n\nput t no\n\n"
            #expect(try cluster.ctl("txn", input: failing) == "FAILURE\n\nOK\n")
            #expect(try cluster.ctl("get", "t", "--print-value-only") == "no\n")

            // Every member serves the same data from its own state.
            let latest = Self.revision(try cluster.ctl("get", "t", "-w", "json"))
            for member in cluster.members {
                let deadline = Date().addingTimeInterval(TestTime.seconds(30))
                var seen: Int64 = 0
                while Date() < deadline {
                    seen = Self.revision(try cluster.ctl("get", "t", "--consistency=s", "-w", "json", endpoints: member.endpoint))
                    if seen >= latest { break }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                #expect(seen >= latest, "\(member.name) is stuck at revision \(seen)")
                #expect(try cluster.ctl("get", "k", "--prefix", "--consistency=s", endpoints: member.endpoint) == "k2\nv2-new\nk3\nv3\n")
            }

            #expect(try cluster.ctl("compaction", "\(firstRevision + 1)") == "compacted revision \(firstRevision + 1)\n")
            let compacted = try cluster.etcdctl(["get", "k2", "--rev", "\(firstRevision)"])
            #expect(compacted.status != 0)
            #expect(compacted.error.contains("etcdserver: mvcc: required revision has been compacted"))
            let future = try cluster.etcdctl(["get", "k2", "--rev", "\(latest + 100)"])
            #expect(future.error.contains("etcdserver: mvcc: required revision is a future revision"))

            let tooLarge = try cluster.etcdctl(["put", "big"], input: String(repeating: "x", count: 1_600_000))
            #expect(tooLarge.status != 0)
            #expect(tooLarge.error.contains("etcdserver: request is too large"))
            let largest = String(repeating: "y", count: 1_000_000)
            #expect(try cluster.ctl("put", "big", input: largest) == "OK\n")
            #expect(try cluster.ctl("get", "big", "--print-value-only") == largest + "\n")
            let emptyKey = try cluster.etcdctl(["put", "", "v"])
            #expect(emptyKey.status != 0)
        }

        @Test func watchReplaysAndFollows() throws {
            let cluster = try Self.startedCluster()
            let start = Self.revision(try cluster.ctl("put", "w/a", "1", "-w", "json"))
            try cluster.ctl("put", "w/a", "2")
            let watcher = Process()
            watcher.executableURL = URL(fileURLWithPath: "/usr/bin/etcdctl")
            watcher.arguments = ["--endpoints", cluster.member("m2").endpoint, "watch", "w/", "--prefix", "--prev-kv",
                                 "--rev", "\(start)"]
            watcher.environment = ["ETCDCTL_API": "3"]
            let output = Pipe()
            watcher.standardOutput = output
            try watcher.run()
            defer {
                if watcher.isRunning { kill(watcher.processIdentifier, SIGKILL) }
                watcher.waitUntilExit()
            }
            try cluster.ctl("put", "w/b", "3")
            try cluster.ctl("del", "w/a")
            try cluster.ctl("put", "other", "x")
            let expected = "PUT\nw/a\n1\nPUT\nw/a\n1\nw/a\n2\nPUT\nw/b\n3\nDELETE\nw/a\n2\nw/a\n\n"
            var seen = ""
            let deadline = Date().addingTimeInterval(TestTime.seconds(30))
            let reader = output.fileHandleForReading
            while seen.count < expected.count, Date() < deadline {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                seen += String(decoding: chunk, as: UTF8.self)
            }
            #expect(seen == expected)
        }

        @Test func maintenanceAndClusterCommands() throws {
            let cluster = try Self.startedCluster()
            try cluster.ctl("put", "a", "1")
            let status = try cluster.ctl("endpoint", "status")
            #expect(status.split(separator: "\n").count == 3)
            #expect(status.contains("3.4.0+podium"))
            // etcdctl 3.4 prints health to standard error.
            let health = try cluster.etcdctl(["endpoint", "health"])
            #expect(health.status == 0)
            #expect((health.output + health.error).components(separatedBy: "is healthy").count == 4, "\(health)")

            let members = try cluster.ctl("member", "list")
            for member in cluster.members {
                #expect(members.contains(", started, \(member.name), http://127.0.0.1:\(member.peerPort)"), "\(members)")
            }

            // Every member hashes the same data alike once it has applied it.
            let written = Self.revision(try cluster.ctl("put", "b", "2", "-w", "json"))
            let deadline = Date().addingTimeInterval(TestTime.seconds(30))
            var hashes: Set<String> = []
            while Date() < deadline {
                hashes = []
                for member in cluster.members {
                    let line = try cluster.ctl("endpoint", "hashkv", "--rev", "\(written)", endpoints: member.endpoint)
                    hashes.insert(String(line.split(separator: ",").last ?? ""))
                }
                if hashes.count == 1 { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(hashes.count == 1, "\(hashes)")

            #expect(try cluster.ctl("defrag").contains("Finished defragmenting etcd member"))
            #expect(try cluster.ctl("alarm", "list") == "")

            let leader = try cluster.waitForLeader()
            let target = cluster.members.first { $0.name != leader }!.name
            let targetID = try cluster.memberID(target)
            let moved = try cluster.ctl("move-leader", String(targetID, radix: 16), endpoints: cluster.member(leader).endpoint)
            #expect(moved.contains("Leadership transferred"))
            #expect(try cluster.waitForLeader() == target)
            let notLeader = try cluster.etcdctl(["move-leader", String(targetID, radix: 16)], endpoints: cluster.member(leader).endpoint)
            #expect(notLeader.status != 0)
        }

        @Test func leaseCommands() throws {
            let cluster = try Self.startedCluster()
            let granted = try cluster.ctl("lease", "grant", "100")
            let lease = String(granted.split(separator: " ")[1])
            #expect(granted == "lease \(lease) granted with TTL(100s)\n")
            #expect(try cluster.ctl("put", "--lease=\(lease)", "lk", "v") == "OK\n")
            let live = try cluster.ctl("lease", "timetolive", lease, "--keys")
            #expect(live.hasPrefix("lease \(lease) granted with TTL(100s), remaining("))
            #expect(live.hasSuffix("attached keys([lk])\n"))
            #expect(try cluster.ctl("lease", "list") == "found 1 leases\n\(lease)\n")
            #expect(try cluster.ctl("lease", "keep-alive", "--once", lease) == "lease \(lease) keepalived with TTL(100)\n")
            #expect(try cluster.ctl("lease", "revoke", lease) == "lease \(lease) revoked\n")
            #expect(try cluster.ctl("get", "lk") == "")
            let again = try cluster.etcdctl(["lease", "revoke", lease])
            #expect(again.error.contains("etcdserver: requested lease not found"))
            #expect(try cluster.ctl("lease", "timetolive", lease) == "lease \(lease) already expired\n")
            let tooLong = try cluster.etcdctl(["lease", "grant", "9000000001"])
            #expect(tooLong.error.contains("etcdserver: too large lease TTL"))

            // A lease nobody keeps alive expires: the leader revokes it through the log, deleting its keys.
            let short = String(try cluster.ctl("lease", "grant", "2").split(separator: " ")[1])
            try cluster.ctl("put", "--lease=\(short)", "ephemeral", "v")
            let deadline = Date().addingTimeInterval(TestTime.seconds(60))
            var remaining = "ephemeral\nv\n"
            while !remaining.isEmpty, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.2)
                remaining = try cluster.ctl("get", "ephemeral")
            }
            #expect(remaining.isEmpty, "the key of an expired lease is still there")
            #expect(try cluster.ctl("lease", "timetolive", short) == "lease \(short) already expired\n")
        }

        /// A lease keeps its remaining TTL across a leader change (no reset to the granted TTL).
        @Test func leaseSurvivesALeaderChangeWithItsRemainingTTL() throws {
            let cluster = try Self.startedCluster()
            let lease = String(try cluster.ctl("lease", "grant", "30").split(separator: " ")[1])
            func remaining(at endpoint: String) throws -> Int {
                let line = try cluster.ctl("lease", "timetolive", lease, endpoints: endpoint)
                guard let open = line.range(of: "remaining("), let close = line.range(of: "s)", range: open.upperBound..<line.endIndex),
                      let seconds = Int(line[open.upperBound..<close.lowerBound]) else { return -1 }
                return seconds
            }
            let leader = try cluster.waitForLeader()
            let deadline = Date().addingTimeInterval(TestTime.seconds(60))
            while try remaining(at: cluster.member(leader).endpoint) > 25, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.2)
            }
            let target = cluster.members.first { $0.name != leader }!.name
            try cluster.ctl("move-leader", String(try cluster.memberID(target), radix: 16), endpoints: cluster.member(leader).endpoint)
            #expect(try cluster.waitForLeader() == target)
            let after = try remaining(at: cluster.member(target).endpoint)
            // At most 25 s left before, plus the new leader's one-election-timeout grace and rounding.
            #expect(after > 0 && after <= 27, "remaining TTL after the leader change: \(after)")
        }

        /// `etcdctl snapshot save`, then `podium snapshot restore` into a new 3-member cluster: same contents, a new
        /// cluster ID, revisions that only go forward; a damaged file is refused.
        @Test func snapshotSaveAndRestoreIntoANewCluster() throws {
            let cluster = try Self.startedCluster()
            for index in 0..<40 { try cluster.ctl("put", "s/\(index)", "value-\(index)") }
            try cluster.ctl("del", "s/7")
            let lease = String(try cluster.ctl("lease", "grant", "600").split(separator: " ")[1])
            try cluster.ctl("put", "--lease=\(lease)", "leased", "x")
            let original = try cluster.ctl("get", "", "--from-key", "-w", "json")
            let oldRevision = Self.revision(original)
            let file = cluster.directory.child("backup.db")
            let saved = try cluster.etcdctl(["snapshot", "save", file], endpoints: cluster.member("m2").endpoint)
            #expect(saved.status == 0, "\(saved.error)")
            #expect(try cluster.podium(["snapshot", "status", file]).output.contains("integrity: ok"))

            let restored = try LocalCluster(size: 3, token: "restored-cluster")
            try restored.restoreAll(from: file)
            try restored.startAll()
            _ = try restored.waitForLeader()
            func contents(_ json: String) -> [String] {
                guard let data = json.data(using: .utf8),
                      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let kvs = object["kvs"] as? [[String: Any]] else { return [] }
                return kvs.map { kv in "\(kv["key"] ?? "")=\(kv["value"] ?? "")@\(kv["mod_revision"] ?? "")" }
            }
            let copy = try restored.ctl("get", "", "--from-key", "-w", "json")
            #expect(contents(copy) == contents(original) && !contents(copy).isEmpty)
            #expect(Self.revision(copy) > oldRevision, "the restored cluster's revision must not go back")
            #expect(try restored.ctl("lease", "list") == "found 1 leases\n\(lease)\n")
            let newID = try restored.etcdctl(["endpoint", "status", "-w", "json"], endpoints: restored.member("m1").endpoint)
            let oldID = try cluster.etcdctl(["endpoint", "status", "-w", "json"], endpoints: cluster.member("m1").endpoint)
            #expect(!newID.output.isEmpty && newID.output.range(of: "cluster_id") != nil)
            #expect(newID.output.components(separatedBy: "cluster_id\":")[1].prefix(10)
                    != oldID.output.components(separatedBy: "cluster_id\":")[1].prefix(10), "a restored cluster is a new cluster")
            // It takes writes like any cluster.
            #expect(try restored.ctl("put", "after", "restore") == "OK\n")

            var damaged = try Data(contentsOf: URL(fileURLWithPath: file))
            damaged[damaged.count / 2] ^= 0x01
            let damagedFile = cluster.directory.child("damaged.db")
            try damaged.write(to: URL(fileURLWithPath: damagedFile))
            let refused = try cluster.podium(["snapshot", "restore", damagedFile, "--data-dir", cluster.directory.child("never")])
            #expect(refused.status != 0)
            #expect(refused.error.contains("SHA-256 mismatch"), "\(refused.error)")
            #expect(!FileManager.default.fileExists(atPath: cluster.directory.child("never")))
        }

        /// member add / start with --initial-cluster-state existing / list / update / promote / remove, and etcd's
        /// errors for bad requests.
        @Test func membershipChanges() throws {
            let cluster = try Self.startedCluster()
            try cluster.ctl("put", "before", "1")
            let original = cluster.members.map(\.endpoint).joined(separator: ",")

            let voter = try cluster.addMember("m4")
            let added = try cluster.ctl("member", "add", "m4", "--peer-urls=http://127.0.0.1:\(voter.peerPort)", endpoints: original)
            #expect(added.contains("added to cluster"))
            #expect(added.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""))
            try cluster.start("m4", extraArguments: ["--initial-cluster-state", "existing"])
            _ = try cluster.waitForLeader()
            let deadline = Date().addingTimeInterval(TestTime.seconds(60))
            var seen = ""
            while seen != "before\n1\n", Date() < deadline {
                seen = try cluster.etcdctl(["get", "before", "--consistency=s"], endpoints: voter.endpoint, timeout: 10).output
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(seen == "before\n1\n", "the new member did not catch up")
            #expect(try cluster.ctl("put", "via-new", "x", endpoints: voter.endpoint) == "OK\n")
            var listed = ""
            while !listed.contains(", started, m4, http://127.0.0.1:\(voter.peerPort), http://\(voter.endpoint), false"), Date() < deadline {
                listed = try cluster.ctl("member", "list")
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(listed.contains(", started, m4, http://127.0.0.1:\(voter.peerPort), http://\(voter.endpoint), false"), "\(listed)")
            let voterID = try cluster.memberID("m4")
            #expect(try cluster.ctl("member", "update", String(voterID, radix: 16), "--peer-urls=http://127.0.0.1:\(voter.peerPort)")
                    .contains("updated in cluster"))
            #expect(try cluster.ctl("member", "remove", String(voterID, radix: 16), endpoints: original).contains("removed from cluster"))
            #expect(!(try cluster.ctl("member", "list", endpoints: original)).contains(", m4,"))
            #expect(cluster.waitForExit("m4"), "a removed member stops itself, as etcd's do")
            #expect(try cluster.ctl("put", "after-remove", "1", endpoints: original) == "OK\n")
            let readded = try cluster.etcdctl(["member", "add", "m4", "--peer-urls=http://127.0.0.1:\(voter.peerPort)"],
                                              endpoints: original)
            #expect(readded.status != 0 && readded.error.contains("etcdserver: ID removed"),
                    "a removed member's ID is never reused: \(readded.error)")

            let learner = try cluster.addMember("m5")
            #expect(try cluster.ctl("member", "add", "m5", "--learner", "--peer-urls=http://127.0.0.1:\(learner.peerPort)",
                                    endpoints: original).contains("added to cluster"))
            try cluster.start("m5", extraArguments: ["--initial-cluster-state", "existing"])
            let learnerID = try cluster.memberID("m5")
            #expect(try cluster.ctl("member", "list", endpoints: original).contains("\(String(learnerID, radix: 16)), started, m5"))
            #expect(try cluster.ctl("member", "promote", String(learnerID, radix: 16), endpoints: original).contains("promoted"))
            #expect(try cluster.ctl("member", "list", endpoints: original).contains(", m5, http://127.0.0.1:\(learner.peerPort), http://\(learner.endpoint), false"))

            let again = try cluster.etcdctl(["member", "promote", String(learnerID, radix: 16)], endpoints: original)
            #expect(again.error.contains("etcdserver: can only promote a learner member"))
            let unknown = try cluster.etcdctl(["member", "remove", "1234"], endpoints: original)
            #expect(unknown.error.contains("etcdserver: member not found"))
            let duplicate = try cluster.etcdctl(["member", "add", "dup", "--peer-urls=http://127.0.0.1:\(cluster.member("m1").peerPort)"],
                                                endpoints: original)
            #expect(duplicate.error.contains("etcdserver: Peer URLs already exists"))
        }

        /// The leader removed through its own endpoint: the removal is answered, the member stops itself, the
        /// others elect a leader and go on without it.
        @Test func theLeaderRemovedThroughItsOwnEndpointStopsAndTheOthersGoOn() throws {
            let cluster = try Self.startedCluster()
            let leader = try cluster.waitForLeader()
            let leaderID = try cluster.memberID(leader)
            let removal = try cluster.etcdctl(["member", "remove", String(leaderID, radix: 16)],
                                              endpoints: cluster.member(leader).endpoint)
            #expect(removal.status == 0 && removal.output.contains("removed from cluster"), "\(removal.error)")
            #expect(cluster.waitForExit(leader), "the removed leader stops itself")
            let survivors = cluster.members.filter { $0.name != leader }.map(\.endpoint).joined(separator: ",")
            var put = try cluster.etcdctl(["put", "after", "1"], endpoints: survivors)
            let deadline = Date().addingTimeInterval(TestTime.seconds(30))
            while put.status != 0, Date() < deadline {
                put = try cluster.etcdctl(["put", "after", "1"], endpoints: survivors)
            }
            #expect(put.output == "OK\n", "\(put.error)")
            let listed = try cluster.ctl("member", "list", endpoints: survivors)
            #expect(listed.split(separator: "\n").count == 2 && !listed.contains(", \(leader),"), "\(listed)")
        }

        /// Past --quota-backend-bytes the NOSPACE alarm is raised and writes that add data are refused; deleting,
        /// compacting, defragmenting and disarming brings the cluster back.
        @Test func spaceQuotaAlarm() throws {
            let cluster = try LocalCluster(size: 3)
            for member in cluster.members {
                try cluster.start(member.name, extraArguments: ["--quota-backend-bytes", "300000"])
            }
            _ = try cluster.waitForLeader()
            let value = String(repeating: "v", count: 50_000)
            var refusal = ""
            for index in 0..<60 where refusal.isEmpty {
                let result = try cluster.etcdctl(["put", "big\(index)"], input: value)
                if result.status != 0 { refusal = result.error }
            }
            #expect(refusal.contains("etcdserver: mvcc: database space exceeded"), "\(refusal)")
            #expect(try cluster.ctl("alarm", "list").contains("alarm:NOSPACE"))
            #expect(try cluster.ctl("endpoint", "status").contains("alarm:NOSPACE"))
            // Deletes still work; then compaction and defragmentation free the space.
            try cluster.ctl("del", "big", "--prefix")
            let revision = Self.revision(try cluster.ctl("get", "x", "-w", "json"))
            try cluster.ctl("compaction", "--physical", "\(revision)")
            try cluster.ctl("defrag")
            #expect(try cluster.ctl("alarm", "disarm").contains("alarm:NOSPACE"))
            #expect(try cluster.ctl("alarm", "list") == "")
            let deadline = Date().addingTimeInterval(TestTime.seconds(30))
            var put = try cluster.etcdctl(["put", "after", "ok"])
            while put.status != 0, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.5)
                put = try cluster.etcdctl(["put", "after", "ok"])
            }
            #expect(put.status == 0, "\(put.error)")
        }

        /// kill -9 the leader while a client writes: the others elect a leader, writes go on, and every
        /// acknowledged write is on every member once the killed one is back and has caught up.
        @Test func leaderKilledDuringWritesLosesNothing() throws {
            let cluster = try Self.startedCluster()
            let leader = try cluster.waitForLeader()
            var acknowledged: [String] = []
            var killedAt: Date?
            var firstWriteAfterKill: Date?
            for index in 0..<60 {
                if index == 20 {
                    cluster.kill9(leader)
                    killedAt = Date()
                }
                let survivors = cluster.members.filter { $0.process != nil }.map(\.endpoint).joined(separator: ",")
                let result = try cluster.etcdctl(["put", "f\(index)", "v\(index)"], endpoints: survivors, timeout: 30)
                if result.status == 0 {
                    acknowledged.append("f\(index)")
                    if killedAt != nil, firstWriteAfterKill == nil { firstWriteAfterKill = Date() }
                }
            }
            #expect(acknowledged.count >= 50, "only \(acknowledged.count) of 60 writes were acknowledged")
            let newLeader = try cluster.waitForLeader()
            #expect(newLeader != leader)
            if let killedAt, let firstWriteAfterKill {
                // Reported, not asserted (timing belongs to benchmarks): visible in the test log.
                print("failover: first acknowledged write \(firstWriteAfterKill.timeIntervalSince(killedAt)) s after kill -9")
            }

            try cluster.start(leader)
            _ = try cluster.waitForLeader()
            for member in cluster.members {
                let deadline = Date().addingTimeInterval(TestTime.seconds(60))
                var keys = ""
                while Date() < deadline {
                    keys = try cluster.ctl("get", "f", "--prefix", "--keys-only", "--consistency=s", endpoints: member.endpoint)
                    let present = Set(keys.split(separator: "\n").map(String.init))
                    if acknowledged.allSatisfy(present.contains) { break }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                let present = Set(keys.split(separator: "\n").map(String.init))
                let lost = acknowledged.filter { !present.contains($0) }
                #expect(lost.isEmpty, "\(member.name) lacks acknowledged writes \(lost)")
            }
        }
    }
}
