import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `podium bench api`'s workloads against a Kubernetes API server: creates, gets and lists of small pods from
/// many clients (one connection each, one request at a time), and watch fan-out — many watchers of one
/// namespace's pods while a writer updates them at a steady rate, each update stamped with its send time so
/// that every watcher's delivery latency can be read. The pods name a scheduler nobody runs, so that the
/// cluster's scheduler leaves them alone and the figures are the API server's.
public enum APILoad {
    public struct Options: Sendable {
        public var target: APIClientConnection.Target
        public var clients = 100
        public var total = 10_000
        public var namespace = "bench"
        public var watchers = 100
        public var rate = 500.0
        public var duration = 10.0
        /// Watchers whose every event is parsed for its latency (the rest only count events).
        public var sampledWatchers = 20

        public init(target: APIClientConnection.Target) {
            self.target = target
        }
    }

    static func pod(_ name: String, namespace: String, stamp: UInt64? = nil) -> [UInt8] {
        let annotations = stamp.map { #","annotations":{"bench/sent":"\#($0)"}"# } ?? ""
        return Array(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)","namespace":"\#(namespace)","labels":{"app":"bench"}\#(annotations)},"spec":{"schedulerName":"podium-bench-unscheduled","containers":[{"name":"c","image":"registry.local/pause:3.9","resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]}}"#.utf8)
    }

    static func ensureNamespace(_ name: String, on connection: APIClientConnection) async throws {
        let body = Array(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"\#(name)"}}"#.utf8)
        let response = try await connection.request(.POST, "/api/v1/namespaces", body: body)
        guard response.status == 201 || response.status == 409 else {
            throw APIClientError("cannot create namespace \(name): HTTP \(response.status)")
        }
    }

    /// Connections for `count` clients, opened a few at a time (a TLS handshake each).
    static func connect(_ count: Int, _ options: Options, group: EventLoopGroup) async throws -> [APIClientConnection] {
        var connections: [APIClientConnection] = []
        for _ in 0..<count { connections.append(try await APIClientConnection.connect(options.target, group: group)) }
        return connections
    }

    struct Tally {
        var latency = LatencyHistogram()
        var succeeded = 0
        var errors: [String: Int] = [:]
    }

    /// `total` requests from `clients` clients; `request(client, index)` makes request `index`.
    static func run(_ workload: String, _ options: Options, group: EventLoopGroup,
                    request: @escaping @Sendable (APIClientConnection, Int) async throws -> Int) async throws -> BenchReport {
        let connections = try await connect(options.clients, options, group: group)
        let next = SharedCounter()
        let started = ContinuousClock.now
        let tallies = await withTaskGroup(of: Tally.self) { group in
            for connection in connections {
                group.addTask {
                    var tally = Tally()
                    while true {
                        let index = next.value.add(1, ordering: .relaxed).oldValue
                        guard index < options.total else { break }
                        let begin = ContinuousClock.now
                        do {
                            let status = try await request(connection, index)
                            let elapsed = ContinuousClock.now - begin
                            if (200..<300).contains(status) {
                                tally.succeeded += 1
                                tally.latency.record(UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000))
                            } else {
                                tally.errors["HTTP \(status)", default: 0] += 1
                            }
                        } catch {
                            tally.errors["\(error)", default: 0] += 1
                        }
                    }
                    return tally
                }
            }
            var all: [Tally] = []
            for await tally in group { all.append(tally) }
            return all
        }
        let elapsed = ContinuousClock.now - started
        var report = BenchReport(workload: "api-\(workload)")
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        for tally in tallies {
            report.succeeded += tally.succeeded
            report.latency.merge(tally.latency)
            for (error, count) in tally.errors { report.errors[error, default: 0] += count }
        }
        report.parameters = ["clients": String(options.clients), "total": String(options.total)]
        for connection in connections { connection.closeSoon() }
        return report
    }

    public static func creates(_ options: Options, group: EventLoopGroup) async throws -> BenchReport {
        let setup = try await APIClientConnection.connect(options.target, group: group)
        try await ensureNamespace(options.namespace, on: setup)
        await setup.close()
        let run = UInt32.random(in: 0...UInt32.max)
        let namespace = options.namespace
        return try await self.run("create", options, group: group) { connection, index in
            try await connection.request(.POST, "/api/v1/namespaces/\(namespace)/pods", body: pod("p-\(run)-\(index)", namespace: namespace)).status
        }
    }

    public static func gets(_ options: Options, group: EventLoopGroup) async throws -> BenchReport {
        let setup = try await APIClientConnection.connect(options.target, group: group)
        try await ensureNamespace(options.namespace, on: setup)
        let names = (0..<100).map { "get-\($0)" }
        for name in names { _ = try await setup.request(.POST, "/api/v1/namespaces/\(options.namespace)/pods", body: pod(name, namespace: options.namespace)) }
        await setup.close()
        let namespace = options.namespace
        return try await self.run("get", options, group: group) { connection, index in
            try await connection.request(.GET, "/api/v1/namespaces/\(namespace)/pods/\(names[index % names.count])").status
        }
    }

    public static func lists(_ options: Options, group: EventLoopGroup) async throws -> BenchReport {
        let namespace = options.namespace
        return try await self.run("list", options, group: group) { connection, _ in
            try await connection.request(.GET, "/api/v1/namespaces/\(namespace)/pods?limit=100").status
        }
    }

    /// Watch fan-out: `watchers` watchers of the namespace's pods; `rate` updates a second for `duration`
    /// seconds by `clients` writers; each watcher should receive every update.
    public static func watchFanOut(_ options: Options, group: EventLoopGroup) async throws -> BenchReport {
        let namespace = options.namespace + "-watch"
        let setup = try await APIClientConnection.connect(options.target, group: group)
        try await ensureNamespace(namespace, on: setup)
        let podCount = 50
        for index in 0..<podCount {
            _ = try await setup.request(.POST, "/api/v1/namespaces/\(namespace)/pods", body: pod("w-\(index)", namespace: namespace))
        }
        let listed = try await setup.request(.GET, "/api/v1/namespaces/\(namespace)/pods?limit=1")
        let listText = listed.body.getString(at: listed.body.readerIndex, length: listed.body.readableBytes) ?? ""
        // The list's own version is the last one in it (metadata follows the items).
        guard let range = listText.range(of: #""resourceVersion":""#, options: .backwards),
              let end = listText[range.upperBound...].firstIndex(of: "\"") else {
            throw APIClientError("the list had no resourceVersion")
        }
        let version = String(listText[range.upperBound..<end])
        await setup.close()

        let received = SharedCounter()
        let latencies = SharedHistogram()
        // Per watcher: events seen, and whether its stream ended early or carried an ERROR event (so a shortfall
        // can be told apart: watchers cut off, refused, or events missing from a live stream).
        let perWatcher = (0..<options.watchers).map { _ in SharedCounter() }
        let errorEvents = SharedCounter()
        let endedEarly = SharedCounter()
        let finished = SharedCounter()
        var watchConnections: [APIClientConnection] = []
        for index in 0..<options.watchers {
            let sampled = index < options.sampledWatchers
            let mine = perWatcher[index]
            let connection = try await APIClientConnection.connect(options.target, group: group) { line in
                received.value.add(1, ordering: .relaxed)
                mine.value.add(1, ordering: .relaxed)
                if line.starts(with: #"{"type":"ERROR""#.utf8) || line.starts(with: #"{"object":{"apiVersion":"v1","code""#.utf8) {
                    errorEvents.value.add(1, ordering: .relaxed)
                }
                guard sampled, let stamp = sentStamp(in: line) else { return }
                let now = DispatchTime.now().uptimeNanoseconds
                if now > stamp { latencies.value.withLock { $0.record(now - stamp) } }
            }
            watchConnections.append(connection)
            let channel = connection.channel
            channel.closeFuture.whenComplete { _ in
                if finished.value.load(ordering: .relaxed) == 0 { endedEarly.value.add(1, ordering: .relaxed) }
            }
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "\(options.target.host):\(options.target.port)")
            headers.add(name: "Authorization", value: "Bearer \(options.target.token)")
            let head = HTTPRequestHead(version: .http1_1, method: .GET,
                                       uri: "/api/v1/namespaces/\(namespace)/pods?watch=true&resourceVersion=\(version)", headers: headers)
            try await channel.writeAndFlush(HTTPClientRequestPart.head(head))
            try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
        }
        // Let the watches start before the clock does.
        try await Task.sleep(for: .milliseconds(500))
        let writers = try await connect(max(1, min(options.clients, 50)), options, group: group)
        let interval = 1.0 / options.rate
        let totalUpdates = Int(options.rate * options.duration)
        let next = SharedCounter()
        let started = ContinuousClock.now
        let errors = SharedErrors()
        let sent = SharedCounter()
        await withTaskGroup(of: Void.self) { tasks in
            for writer in writers {
                tasks.addTask {
                    while true {
                        let index = next.value.add(1, ordering: .relaxed).oldValue
                        guard index < totalUpdates else { return }
                        let due = started + .nanoseconds(Int64(Double(index) * interval * 1e9))
                        if due > ContinuousClock.now { try? await Task.sleep(until: due) }
                        let name = "w-\(index % podCount)"
                        let patch = Array(#"{"metadata":{"annotations":{"bench/sent":"\#(DispatchTime.now().uptimeNanoseconds)"}}}"#.utf8)
                        do {
                            let response = try await writer.request(.PATCH, "/api/v1/namespaces/\(namespace)/pods/\(name)", body: patch,
                                                                    contentType: "application/merge-patch+json")
                            if response.status == 200 { sent.value.add(1, ordering: .relaxed) } else { errors.value.withLock { $0["HTTP \(response.status)", default: 0] += 1 } }
                        } catch {
                            errors.value.withLock { $0["\(error)", default: 0] += 1 }
                        }
                    }
                }
            }
        }
        let writeSeconds = (ContinuousClock.now - started).seconds
        // Wait (bounded) for the last events to arrive.
        let expected = sent.value.load(ordering: .relaxed) * options.watchers
        let deadline = ContinuousClock.now + .seconds(10)
        while received.value.load(ordering: .relaxed) < expected, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let totalSeconds = (ContinuousClock.now - started).seconds
        finished.value.store(1, ordering: .relaxed)
        let perWatcherExpected = sent.value.load(ordering: .relaxed)
        let short = perWatcher.filter { $0.value.load(ordering: .relaxed) < perWatcherExpected }
        // Closed all at once: a TLS close waits for the peer's close_notify, one by one that adds up.
        for connection in watchConnections { connection.closeSoon() }
        for writer in writers { writer.closeSoon() }
        var report = BenchReport(workload: "api-watch-fanout")
        report.parameters = ["watchers": String(options.watchers), "rate": String(options.rate), "duration": String(options.duration),
                             "sampledWatchers": String(options.sampledWatchers)]
        report.seconds = writeSeconds
        report.succeeded = sent.value.load(ordering: .relaxed)
        report.errors = errors.value.withLock { $0 }
        report.figures["eventsExpected"] = Double(expected)
        report.figures["eventsReceived"] = Double(received.value.load(ordering: .relaxed))
        report.figures["watchersShort"] = Double(short.count)
        report.figures["watchersShortEvents"] = Double(short.reduce(0) { $0 + perWatcherExpected - $1.value.load(ordering: .relaxed) })
        report.figures["watchersEndedEarly"] = Double(endedEarly.value.load(ordering: .relaxed))
        report.figures["watchErrorEvents"] = Double(errorEvents.value.load(ordering: .relaxed))
        report.figures["eventsPerSecond"] = Double(received.value.load(ordering: .relaxed)) / totalSeconds
        report.extraLatencies["delivery"] = latencies.value.withLock { $0 }
        return report
    }

    /// The `bench/sent` stamp in a watch event line, if it has one.
    static func sentStamp(in line: ByteBufferView) -> UInt64? {
        let marker = Array(#""bench/sent":""#.utf8)
        guard let start = line.firstRange(of: marker)?.upperBound else { return nil }
        var value: UInt64 = 0
        var index = start
        while index < line.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(line[index]) {
            value = value * 10 + UInt64(line[index] - UInt8(ascii: "0"))
            index += 1
        }
        return value
    }
}

final class SharedHistogram: Sendable {
    let value = Mutex(LatencyHistogram())
}

final class SharedErrors: Sendable {
    let value = Mutex<[String: Int]>([:])
}

/// A counter tasks share.
final class SharedCounter: Sendable {
    let value = Atomic(0)
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
