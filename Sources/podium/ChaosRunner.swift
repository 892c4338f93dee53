import Chaos
import EtcdProto
import Foundation
import GRPC
import NIOCore
import NIOPosix
import PeerTransport
import Synchronization

/// Runs one chaos test: its own local cluster, the clients, the watchers and the nemesis, and records the
/// history (see `ChaosCommand`).
final class ChaosRunner: Sendable {
    let directory: String
    let cluster: LocalCluster
    let seed: UInt64
    /// Every peer link goes through it, so the nemesis can cut, one-way or slow links.
    let proxy: PeerLinkProxy
    private let start = ContinuousClock.now
    private let group = MultiThreadedEventLoopGroup.singleton
    /// The revision watchers must reach before they stop; set once the load is over.
    private let watchTarget = Mutex<Int64?>(nil)

    static let prefix = "chaos/"
    static let prefixEnd = "chaos0"  // "/" + 1

    init(directory: String, masters: Int, seed: UInt64) async throws {
        self.directory = directory
        self.seed = seed
        if let previous = try LocalCluster.load(from: directory) {
            for member in previous.members {
                if let pid = LocalCluster.runningPID(directory, member.name) { kill(pid, SIGCONT) }
                LocalCluster.stop(member.name, in: directory, signal: SIGKILL)
            }
        }
        if FileManager.default.fileExists(atPath: directory) { try FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Member i: client port base+3i, peer port base+3i+1, and base+3i+2 on the proxy, which the others dial.
        let base = try Self.freeBasePort(count: 3 * masters)
        var cluster = LocalCluster(masters: masters, basePort: base, token: "chaos-\(seed)")
        for index in cluster.members.indices {
            cluster.members[index].clientPort = base + 3 * index
            cluster.members[index].peerPort = base + 3 * index + 1
            cluster.members[index].advertisedPeerPort = base + 3 * index + 2
        }
        self.cluster = cluster
        proxy = PeerLinkProxy(group: MultiThreadedEventLoopGroup.singleton)
        for member in cluster.members {
            // Safe to force: set just above.
            try await proxy.forward(listenPort: member.advertisedPeerPort!, to: member.peerPort, memberID: cluster.memberID(member))
        }
        try cluster.save(in: directory)
        for member in cluster.members { _ = try cluster.start(member, in: directory) }
        _ = try await awaitHealthy(cluster, directory: directory, timeout: 60)
    }

    private static func freeBasePort(count: Int) throws -> Int {
        for _ in 0..<100 {
            // Below the ephemeral range, so no outgoing connection takes a member's port while it restarts.
            let base = Int.random(in: 10_000...(32_000 - count))
            if (0..<count).allSatisfy({ LocalCluster.isFree(base + $0) }) { return base }
        }
        throw CommandFailure("no run of \(count) free ports found")
    }

    /// Seconds since the run started.
    func now() -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    func shutdown() async {
        for member in cluster.members {
            if let pid = LocalCluster.runningPID(directory, member.name) { kill(pid, SIGCONT) }
            LocalCluster.stop(member.name, in: directory, signal: SIGKILL)
        }
        await proxy.shutdown()
    }

    func run(duration: Double, interval: Double, clients: Int, watchers: Int, keys: Int,
             log: @escaping @Sendable (String) -> Void) async throws -> History {
        let startRevision = try await currentRevision() + 1
        let deadline = now() + duration
        log("cluster of \(cluster.members.count) masters up in \(directory); seed \(seed); running for \(Int(duration)) s")
        async let faults = nemesis(until: deadline, interval: interval, log: log)
        let watchTasks = (0..<watchers).map { id in Task { await self.watch(id, from: startRevision, giveUpAt: .infinity) } }
        let operations = await withTaskGroup(of: [ClientOperation].self) { tasks in
            for id in 0..<clients { tasks.addTask { await self.client(id, until: deadline, keys: keys) } }
            var all: [ClientOperation] = []
            for await some in tasks { all += some }
            return all
        }
        let faultRecords = await faults
        log("load over: \(operations.count) operations; healing and reading the store's log")
        _ = try await awaitHealthy(cluster, directory: directory, timeout: 60)
        let finalRevision = try await currentRevision()
        watchTarget.withLock { $0 = finalRevision }
        let logRecord = await watch(-1, from: startRevision, giveUpAt: now() + 120)
        let settle = now() + 120
        var watches: [WatchRecord] = []
        for task in watchTasks {
            let remaining = settle - now()
            let record = await withTaskGroup(of: WatchRecord?.self) { race in
                race.addTask { await task.value }
                race.addTask {
                    try? await Task.sleep(for: .seconds(max(0, remaining)))
                    return nil
                }
                let first = await race.next() ?? nil
                race.cancelAll()
                return first
            }
            if let record { watches.append(record) } else { task.cancel() }
        }
        return History(operations: operations.sorted { $0.invoked < $1.invoked }, log: logRecord.events,
                       watches: watches, faults: faultRecords)
    }

    // MARK: clients

    private func client(_ id: Int, until deadline: Double, keys: Int) async -> [ClientOperation] {
        var random = SplitMix64(seed: seed &+ UInt64(id + 1) &* 0x9E37_79B9_7F4A_7C15)
        var operations: [ClientOperation] = []
        var memberIndex = id % cluster.members.count
        var channel: GRPCChannel?
        var lastRead: [String: String?] = [:]
        var sequence = 0
        while now() < deadline {
            if channel == nil {
                channel = try? await GRPCChannel.connect(host: "127.0.0.1", port: cluster.members[memberIndex].clientPort,
                                                         group: group, timeout: .seconds(1))
                if channel == nil {
                    memberIndex = (memberIndex + 1) % cluster.members.count
                    try? await Task.sleep(for: .milliseconds(100))
                    continue
                }
            }
            guard let connection = channel else { continue }
            let key = Self.prefix + "k\(random.next() % UInt64(keys))"
            sequence += 1
            let value = "c\(id)-\(sequence)"
            let kind: ClientOperation.Kind
            switch random.next() % 100 {
            case 0..<35: kind = .put
            case 35..<60: kind = .get
            case 60..<85: kind = .cas
            default: kind = .delete
            }
            let expected = lastRead[key] ?? nil
            var operation = ClientOperation(client: id, kind: kind, key: key, value: kind == .put || kind == .cas ? value : nil,
                                      expected: kind == .cas ? expected : nil, invoked: now())
            do {
                try await perform(&operation, on: connection)
                operation.completed = now()
                operation.outcome = .ok
                switch kind {
                case .get: lastRead[key] = .some(operation.read)
                case .put: lastRead[key] = .some(value)
                case .delete: lastRead[key] = .some(nil)
                case .cas: if operation.swapped == true { lastRead[key] = .some(value) }
                }
            } catch {
                operation.completed = now()
                // A read has no effect; a write may have been applied whatever the client saw.
                operation.outcome = kind == .get ? .fail : .unknown
                await connection.close()
                channel = nil
                memberIndex = (memberIndex + 1) % cluster.members.count
            }
            operations.append(operation)
        }
        await channel?.close()
        return operations
    }

    private func perform(_ operation: inout ClientOperation, on channel: GRPCChannel) async throws {
        let key = Data(operation.key.utf8)
        let timeout = TimeAmount.seconds(2)
        switch operation.kind {
        case .put:
            var request = Etcdserverpb_PutRequest()
            request.key = key
            request.value = Data((operation.value ?? "").utf8)
            let reply = try Etcdserverpb_PutResponse(
                grpcMessage: try await channel.unary("/etcdserverpb.KV/Put", request: request.grpcMessage(), timeout: timeout))
            operation.revision = reply.header.revision
        case .get:
            var request = Etcdserverpb_RangeRequest()
            request.key = key
            let reply = try Etcdserverpb_RangeResponse(
                grpcMessage: try await channel.unary("/etcdserverpb.KV/Range", request: request.grpcMessage(), timeout: timeout))
            operation.read = reply.kvs.first.map { String(decoding: $0.value, as: UTF8.self) }
            operation.revision = reply.header.revision
        case .delete:
            var request = Etcdserverpb_DeleteRangeRequest()
            request.key = key
            let reply = try Etcdserverpb_DeleteRangeResponse(
                grpcMessage: try await channel.unary("/etcdserverpb.KV/DeleteRange", request: request.grpcMessage(), timeout: timeout))
            operation.revision = reply.header.revision
            operation.deleted = reply.deleted
        case .cas:
            var compare = Etcdserverpb_Compare()
            compare.key = key
            compare.result = .equal
            if let expected = operation.expected {
                compare.target = .value
                compare.value = Data(expected.utf8)
            } else {
                compare.target = .create
                compare.createRevision = 0
            }
            var put = Etcdserverpb_PutRequest()
            put.key = key
            put.value = Data((operation.value ?? "").utf8)
            var success = Etcdserverpb_RequestOp()
            success.requestPut = put
            var request = Etcdserverpb_TxnRequest()
            request.compare = [compare]
            request.success = [success]
            let reply = try Etcdserverpb_TxnResponse(
                grpcMessage: try await channel.unary("/etcdserverpb.KV/Txn", request: request.grpcMessage(), timeout: timeout))
            operation.swapped = reply.succeeded
            operation.revision = reply.header.revision
        }
    }

    private func currentRevision() async throws -> Int64 {
        var lastError: Error = CommandFailure("no member answered")
        for _ in 0..<50 {
            for member in cluster.members {
                do {
                    let channel = try await GRPCChannel.connect(host: "127.0.0.1", port: member.clientPort, group: group,
                                                                timeout: .seconds(1))
                    defer { channel.closeSoon() }
                    var request = Etcdserverpb_RangeRequest()
                    request.key = Data(Self.prefix.utf8)
                    request.rangeEnd = Data(Self.prefixEnd.utf8)
                    request.countOnly = true
                    let reply = try Etcdserverpb_RangeResponse(
                        grpcMessage: try await channel.unary("/etcdserverpb.KV/Range", request: request.grpcMessage(),
                                                             timeout: .seconds(2)))
                    return reply.header.revision
                } catch {
                    lastError = error
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw lastError
    }

    // MARK: watchers

    private enum WatchSignal {
        case message(ByteBuffer)
        case closed
        case tick
    }

    /// Follows every key from `startRevision` until the watch target is reached (or `giveUpAt`), resuming on
    /// another member from the revision after its last event whenever its stream breaks or stays silent.
    private func watch(_ id: Int, from startRevision: Int64, giveUpAt: Double) async -> WatchRecord {
        var record = WatchRecord(watcher: id, startRevision: startRevision)
        var memberIndex = max(id, 0) % cluster.members.count
        var first = true
        func done() -> Bool {
            guard let target = watchTarget.withLock({ $0 }) else { return false }
            return (record.events.last?.revision ?? startRevision - 1) >= target
        }
        while !done(), now() < giveUpAt, !Task.isCancelled {
            if !first { record.resumptions += 1 }
            first = false
            let member = cluster.members[memberIndex]
            memberIndex = (memberIndex + 1) % cluster.members.count
            guard let channel = try? await GRPCChannel.connect(host: "127.0.0.1", port: member.clientPort, group: group,
                                                               timeout: .seconds(1)) else {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            let (signals, continuation) = AsyncStream<WatchSignal>.makeStream()
            let resumeFrom = (record.events.last?.revision ?? startRevision - 1) + 1
            // Closing the channel at the end ends the stream too.
            _ = try? await channel.eventLoop.submit {
                let stream = channel.openStream("/etcdserverpb.Watch/Watch",
                                                onMessage: { continuation.yield(.message($0)) },
                                                onClose: { _ in continuation.yield(.closed) })
                var request = Etcdserverpb_WatchRequest()
                request.createRequest.key = Data(Self.prefix.utf8)
                request.createRequest.rangeEnd = Data(Self.prefixEnd.utf8)
                request.createRequest.startRevision = resumeFrom
                if let message = try? request.grpcMessage() { stream.send(message) }
            }.get()
            let ticker = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    continuation.yield(.tick)
                }
            }
            var lastHeard = now()
            streamLoop: for await signal in signals {
                switch signal {
                case .message(let bytes):
                    lastHeard = now()
                    guard let response = try? Etcdserverpb_WatchResponse(grpcMessage: bytes) else { break streamLoop }
                    if response.canceled { break streamLoop }
                    for event in response.events {
                        record.events.append(Event(revision: event.kv.modRevision, key: String(decoding: event.kv.key, as: UTF8.self),
                                                   value: event.type == .put ? String(decoding: event.kv.value, as: UTF8.self) : nil))
                    }
                    if done() { break streamLoop }
                case .closed:
                    break streamLoop
                case .tick:
                    // A paused or cut-off member leaves its streams silent: move on after a while.
                    if done() || now() >= giveUpAt || Task.isCancelled || now() - lastHeard > 3 { break streamLoop }
                }
            }
            ticker.cancel()
            continuation.finish()
            await channel.close()
        }
        return record
    }

    // MARK: nemesis

    private func nemesis(until deadline: Double, interval: Double, log: @escaping @Sendable (String) -> Void) async -> [Fault] {
        var random = SplitMix64(seed: seed ^ 0xC0FF_EE00_D15E_A5E5)
        var faults: [Fault] = []
        while now() + interval < deadline {
            try? await Task.sleep(for: .seconds(interval * 0.4))
            let leader = await currentLeader()
            let pick = cluster.members[Int(random.next() % UInt64(cluster.members.count))].name
            let target = random.next() % 2 == 0 ? (leader ?? pick) : pick
            let kind: Fault.Kind
            switch random.next() % 100 {
            case 0..<30: kind = .kill
            case 30..<50: kind = .pause
            case 50..<70: kind = .isolate
            case 70..<85: kind = .oneWay
            default: kind = .slow
            }
            guard let pid = LocalCluster.runningPID(directory, target), let member = try? cluster.member(target) else { continue }
            let id = cluster.memberID(member)
            let others = cluster.members.filter { $0.name != target }.map(cluster.memberID)
            switch kind {
            case .kill: LocalCluster.stop(target, in: directory, signal: SIGKILL)
            case .pause: kill(pid, SIGSTOP)
            case .isolate:
                for other in others {
                    proxy.setFault(.drop, from: id, to: other)
                    proxy.setFault(.drop, from: other, to: id)
                }
            case .oneWay:
                // It hears the others but nobody hears it.
                for other in others { proxy.setFault(.drop, from: id, to: other) }
            default:
                for other in others {
                    proxy.setFault(.delay(.milliseconds(300)), from: id, to: other)
                    proxy.setFault(.delay(.milliseconds(300)), from: other, to: id)
                }
            }
            faults.append(Fault(time: now(), kind: kind, member: target, wasLeader: target == leader))
            log(String(format: "%7.2f s  %@ %@%@", now(), kind.rawValue, target, target == leader ? " (leader)" : ""))
            try? await Task.sleep(for: .seconds(interval * 0.6))
            let heal: Fault.Kind
            switch kind {
            case .kill:
                _ = try? cluster.start(member, in: directory)
                heal = .restart
            case .pause:
                kill(pid, SIGCONT)
                heal = .resume
            default:
                proxy.healAll()
                heal = .heal
            }
            faults.append(Fault(time: now(), kind: heal, member: target, wasLeader: false))
            log(String(format: "%7.2f s  %@ %@", now(), heal.rawValue, target))
        }
        return faults
    }

    private func currentLeader() async -> String? {
        for member in cluster.members {
            if let status = await probeStatus(member, of: cluster, group: group), status.leader != 0 {
                return cluster.members.first { cluster.memberID($0) == status.leader }?.name
            }
        }
        return nil
    }
}

/// A small, fast, seedable generator (SplitMix64), so a seed replays the same choices.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
