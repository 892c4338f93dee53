import Foundation
import Testing
import TestSupport

extension ProcessClusterTests {
    /// `podium up` / `status` / `kill` / `start` / `down` as a user runs them.
    @Suite struct UpCommandTests {
        /// A base port whose next seven ports are free right now (six for the store, one the API servers share).
        static func freeBasePort() throws -> Int {
            for _ in 0..<50 {
                let base = Int.random(in: 10_000...31_990)
                if (0..<7).allSatisfy({ LocalCluster.isFree(base + $0) }) { return base }
            }
            throw ClusterTestError("no run of seven free ports found")
        }

        /// kubectl with a kubeconfig and a home of its own (no shared discovery cache), bounded in time.
        static func kubectl(_ arguments: [String], kubeconfig: String, home: String) throws -> LocalCluster.CommandResult {
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: APIServerProcess.kubectlPath)
            process.arguments = arguments + ["--request-timeout=\(Int(TestTime.seconds(20)))s"]
            process.environment = ["KUBECONFIG": kubeconfig, "HOME": home, "PATH": "/usr/bin:/bin"]
            let output = Pipe(), error = Pipe()
            process.standardOutput = output
            process.standardError = error
            try process.run()
            let collected = PipeCollector(output, error, timeout: TestTime.seconds(60)) { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return LocalCluster.CommandResult(status: process.terminationStatus, output: collected.output, error: collected.error)
        }

        /// The command lines (arguments joined by spaces) of the processes whose arguments contain `text`.
        static func commandLines(containing text: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
                guard Int32(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
                let line = String(decoding: data, as: UTF8.self).split(separator: "\0").joined(separator: " ")
                return line.contains(text) ? line : nil
            }
        }

        @Test func upStatusKillStartDown() throws {
            let tools = try LocalCluster(size: 0)
            let dataDirectory = tools.directory.child("cluster")
            let base = try Self.freeBasePort()
            defer { _ = try? tools.podium(["down", "--data-dir", dataDirectory]) }

            let up = try tools.podium(["up", "--data-dir", dataDirectory, "--base-port", "\(base)", "--apiserver-port", "\(base + 6)",
                                       "--master-arg=--event-ttl=30m"])
            #expect(up.status == 0, "\(up.error)")
            #expect(up.output.contains("cluster healthy: 3 masters"))
            #expect(up.output.contains("127.0.0.1:\(base),127.0.0.1:\(base + 2),127.0.0.1:\(base + 4)"))
            let endpoints = "127.0.0.1:\(base),127.0.0.1:\(base + 2),127.0.0.1:\(base + 4)"
            // "Healthy" means every member answers a linearizable read now, not after a while: etcdctl's own check
            // (a linearizable get on each endpoint, all at once), then a get through each member alone, no retries.
            let health = try tools.etcdctl(["endpoint", "health"], endpoints: endpoints)
            // (etcdctl prints each endpoint's line on standard error.)
            #expect(health.status == 0 && (health.output + health.error).components(separatedBy: "is healthy").count == 4,
                    "\(health.output)\(health.error)")
            for port in [base, base + 2, base + 4] {
                let read = try tools.etcdctl(["get", "k", "--consistency=l"], endpoints: "127.0.0.1:\(port)")
                #expect(read.status == 0, "a linearizable read through 127.0.0.1:\(port) right after up: \(read.error)")
            }
            #expect(try tools.ctl("put", "k", "v", endpoints: endpoints) == "OK\n")
            #expect(up.output.contains("export KUBECONFIG=\(dataDirectory)/kubeconfig"), "\(up.output)")
            let kubectl = { (arguments: [String]) throws -> LocalCluster.CommandResult in
                try Self.kubectl(arguments, kubeconfig: dataDirectory + "/kubeconfig", home: tools.directory.child("home"))
            }
            let namespaces = try kubectl(["get", "ns"])
            #expect(namespaces.status == 0 && namespaces.output.contains("kube-system"), "kubectl right after up: \(namespaces.error)")
            #expect(try kubectl(["create", "deployment", "web", "--image=x"]).output.contains("deployment.apps/web created"))

            let status = try tools.podium(["status", "--json", "--data-dir", dataDirectory])
            let members = (try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])?["members"] as? [[String: Any]]
            #expect(members?.count == 3)
            #expect(members?.filter { $0["leader"] as? Bool == true }.count == 1)

            #expect(try tools.podium(["kill", "master1", "--data-dir", dataDirectory]).status == 0)
            // A put racing the election that follows a killed leader may be refused ("leader changed", as etcd's
            // would be); a user retries, so does this.
            let putDeadline = Date().addingTimeInterval(TestTime.seconds(30))
            var put = try tools.etcdctl(["put", "k2", "v2"], endpoints: "127.0.0.1:\(base + 2),127.0.0.1:\(base + 4)", timeout: 10)
            while put.status != 0, Date() < putDeadline {
                Thread.sleep(forTimeInterval: 0.2)
                put = try tools.etcdctl(["put", "k2", "v2"], endpoints: "127.0.0.1:\(base + 2),127.0.0.1:\(base + 4)", timeout: 10)
            }
            #expect(put.output == "OK\n", "\(put.error)")
            // The kubeconfig's one URL still works: the other masters' API servers share the port.
            var read = try kubectl(["get", "deployment", "web", "-o", "name"])
            while read.status != 0, Date() < putDeadline {
                Thread.sleep(forTimeInterval: 0.2)
                read = try kubectl(["get", "deployment", "web", "-o", "name"])
            }
            #expect(read.output == "deployment.apps/web\n", "kubectl after master1 was killed: \(read.error)")
            #expect(try tools.podium(["start", "master1", "--data-dir", dataDirectory]).status == 0)
            let deadline = Date().addingTimeInterval(TestTime.seconds(60))
            var seen = ""
            while Date() < deadline {
                seen = (try? tools.etcdctl(["get", "k2", "--consistency=s"], endpoints: "127.0.0.1:\(base)", timeout: 10).output) ?? ""
                if seen == "k2\nv2\n" { break }
                Thread.sleep(forTimeInterval: 0.2)
            }
            #expect(seen == "k2\nv2\n", "the restarted member did not catch up")
            #expect(Self.commandLines(containing: dataDirectory + "/master1").contains { $0.contains("--event-ttl=30m") },
                    "a master started later runs with the flags `up` was given")

            let again = try tools.podium(["up", "--data-dir", dataDirectory, "--base-port", "\(base)", "--apiserver-port", "\(base + 6)"])
            #expect(again.output.contains("reusing the existing cluster data"))
            #expect(again.output.contains("already running"))
            let afterReuse = try kubectl(["get", "deployment", "web", "-o", "name"])
            #expect(afterReuse.status == 0, "kubectl with the kubeconfig a second up wrote: \(afterReuse.error)")
            let mismatch = try tools.podium(["up", "--data-dir", dataDirectory, "--base-port", "\(base)", "--apiserver-port", "\(base + 6)", "--masters", "5"])
            #expect(mismatch.status != 0 && mismatch.error.contains("down --purge"))

            let down = try tools.podium(["down", "--data-dir", dataDirectory])
            #expect(down.status == 0 && down.output.contains("data kept"))
            let after = try tools.podium(["status", "--json", "--data-dir", dataDirectory])
            #expect(!after.output.contains("\"healthy\" : true"))
            let purge = try tools.podium(["down", "--purge", "--data-dir", dataDirectory])
            #expect(purge.status == 0 && !FileManager.default.fileExists(atPath: dataDirectory))
        }

        /// The store leader's master killed -9 while the Python client writes through the kubeconfig's one URL and
        /// kubectl writes too: a request in flight on it may fail and is retried, the next ones succeed, and every
        /// object the server acknowledged is there afterwards.
        @Test func aMasterKilledDuringWritesLosesNoAcknowledgedObject() throws {
            let python = PythonClientTests.packageRoot.appendingPathComponent(".build/python-kubernetes/bin/python").path
            guard FileManager.default.isExecutableFile(atPath: python) else {
                Issue.record("the Python kubernetes client is not installed at \(python) (tools/test installs it)")
                return
            }
            let tools = try LocalCluster(size: 0)
            let dataDirectory = tools.directory.child("cluster")
            let base = try Self.freeBasePort()
            defer { _ = try? tools.podium(["down", "--data-dir", dataDirectory]) }
            let up = try tools.podium(["up", "--data-dir", dataDirectory, "--base-port", "\(base)", "--apiserver-port", "\(base + 6)"])
            try #require(up.status == 0, "\(up.error)")
            let kubeconfig = dataDirectory + "/kubeconfig"
            let kubectl = { (arguments: [String]) throws -> LocalCluster.CommandResult in
                try Self.kubectl(arguments, kubeconfig: kubeconfig, home: tools.directory.child("home"))
            }

            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: python)
            writer.arguments = [PythonClientTests.packageRoot.appendingPathComponent("Tests/Interop/kill_writer.py").path,
                                kubeconfig, "300", "\(Int(TestTime.seconds(240)))"]
            let output = Pipe()
            writer.standardOutput = output
            writer.standardError = output
            try writer.run()
            defer { if writer.isRunning { kill(writer.processIdentifier, SIGKILL) } }
            let lines = LineCollector(output)
            #expect(lines.wait(for: "progress 50", timeout: TestTime.seconds(120)), "the writer got going: \(lines.text)")

            let status = try tools.podium(["status", "--json", "--data-dir", dataDirectory])
            let members = (try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])?["members"] as? [[String: Any]]
            let leader = try #require(members?.first { $0["leader"] as? Bool == true }?["name"] as? String, "\(status.output)")
            #expect(try tools.podium(["kill", leader, "--data-dir", dataDirectory]).status == 0)

            // kubectl goes on through the same URL: a try may meet the dead master or the election; a retry works.
            let deadline = Date().addingTimeInterval(TestTime.seconds(60))
            var created = try kubectl(["create", "configmap", "after-kill", "--from-literal=a=b"])
            while created.status != 0, !created.error.contains("AlreadyExists"), Date() < deadline {
                Thread.sleep(forTimeInterval: 0.2)
                created = try kubectl(["create", "configmap", "after-kill", "--from-literal=a=b"])
            }
            #expect(created.status == 0 || created.error.contains("AlreadyExists"), "kubectl after \(leader) was killed: \(created.error)")

            let writerDeadline = Date().addingTimeInterval(TestTime.seconds(260))
            while writer.isRunning, Date() < writerDeadline { Thread.sleep(forTimeInterval: 0.2) }
            #expect(!writer.isRunning && writer.terminationStatus == 0 && lines.text.contains("done"), "the writer: \(lines.text)")
            let acknowledged = lines.text.split(separator: "\n").filter { $0.hasPrefix("acked ") }.map { String($0.dropFirst(6)) }
            #expect(acknowledged.count == 300, "\(lines.text)")
            let listed = try kubectl(["get", "configmaps", "-o", "name"])
            let names = Set(listed.output.split(separator: "\n").map { String($0.dropFirst("configmap/".count)) })
            let lost = acknowledged.filter { !names.contains($0) }
            #expect(lost.isEmpty, "acknowledged but gone: \(lost)")
            #expect(names.contains("after-kill"))
        }

        /// A member's port held by someone else is named up front, not left to a member that dies in its log.
        @Test func upRefusesAPortTakenByAnotherProcess() throws {
            let tools = try LocalCluster(size: 0)
            let dataDirectory = tools.directory.child("cluster")
            let base = try Self.freeBasePort()
            let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(holder) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(base + 2).bigEndian
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(bound == 0 && listen(holder, 1) == 0)
            defer { _ = try? tools.podium(["down", "--purge", "--data-dir", dataDirectory]) }

            let up = try tools.podium(["up", "--data-dir", dataDirectory, "--base-port", "\(base)", "--apiserver-port", "\(base + 6)", "--timeout", "20"])
            #expect(up.status != 0)
            #expect(up.error.contains("port \(base + 2) of master2 is taken by another process"), "\(up.error)")
        }

        @Test func stopHandsOverLeadershipFirst() throws {
            let tools = try LocalCluster(size: 0)
            let dataDirectory = tools.directory.child("cluster")
            let base = try Self.freeBasePort()
            defer { _ = try? tools.podium(["down", "--data-dir", dataDirectory]) }
            #expect(try tools.podium(["up", "--data-dir", dataDirectory, "--base-port", "\(base)", "--apiserver-port", "\(base + 6)"]).status == 0)

            func members() throws -> [[String: Any]] {
                let status = try tools.podium(["status", "--json", "--data-dir", dataDirectory])
                return (try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])?["members"] as? [[String: Any]] ?? []
            }
            guard let leader = try members().first(where: { $0["leader"] as? Bool == true })?["name"] as? String else {
                Issue.record("no leader")
                return
            }
            let stop = try tools.podium(["stop", leader, "--data-dir", dataDirectory])
            #expect(stop.status == 0, "\(stop.error)")
            #expect(stop.output.contains("moved leadership from \(leader) to "), "\(stop.output)")
            #expect(stop.output.contains("stopped \(leader)"))
            let others = (0..<3).map { "127.0.0.1:\(base + 2 * $0)" }.filter { !$0.hasSuffix(":\(base + 2 * (Int(leader.dropFirst(6)) ?? 1) - 2)") }
            #expect(try tools.ctl("put", "after-stop", "v", endpoints: others.joined(separator: ",")) == "OK\n")
            let again = try tools.podium(["stop", leader, "--data-dir", dataDirectory])
            #expect(again.status != 0 && again.error.contains("\(leader) is not running"))
            #expect(try tools.podium(["start", leader, "--data-dir", dataDirectory]).status == 0)
        }
    }
}
