import Foundation
import Logging
import Resources
import Synchronization

/// Records core/v1 Events about objects ("Scheduled", "SuccessfulCreate", …), as `kubectl describe` shows them.
/// Recording never blocks the caller: events wait in a bounded buffer (beyond it they are dropped and counted,
/// as client-go's broadcaster drops under pressure) and a few writers post them. A repeat of a recent event (same
/// object, type, reason and message: a pod retried while unschedulable) counts up the one posted, by a patch of
/// its count and lastTimestamp, as client-go's correlator does; repeats still queued merge into one write.
public final class EventRecorder: Sendable {
    public let component: String
    private let events: ResourceClient
    private let instance: String
    private let buffer = Mutex(Buffer())
    public static let bufferLimit = 10_000
    private let writers: Int

    /// One write to make: a new event, or a repeat that counts up the event of the same name.
    struct Post: Sendable {
        var event: JSONValue
        var key: EventCorrelator.Key
        var isRepeat: Bool
    }

    struct Buffer: Sendable {
        var pending: [Post] = []
        /// Where in `pending` each event name is, so that repeats merge into a queued write.
        var pendingIndex: [String: Int] = [:]
        var dropped = 0
        var waiter: CheckedContinuation<Void, Never>?
        var correlator = EventCorrelator()
    }

    public init(api: APIClient, component: String, writers: Int = 8) throws {
        guard let type = ResourceType.find(group: "", version: "v1", plural: "events") else {
            throw ClusterAccessError("the catalogue lacks core/v1 events")
        }
        events = ResourceClient(api, type)
        self.component = component
        self.writers = writers
        instance = ProcessInfo.processInfo.hostName
    }

    /// Events dropped because the buffer was full.
    public var droppedCount: Int { buffer.withLock { $0.dropped } }

    public func record(pod: PodReference, type: String, reason: String, message: String) {
        record(involved: ["apiVersion": "v1", "kind": "Pod", "namespace": .string(pod.namespace), "name": .string(pod.name),
                          "uid": .string(pod.uid)], namespace: pod.namespace, type: type, reason: reason, message: message)
    }

    /// Queues an Event about the object `involved` (an ObjectReference: apiVersion, kind, namespace, name, uid).
    public func record(involved: JSONValue, namespace: String, type: String, reason: String, message: String) {
        let now = Date().timeIntervalSince1970
        let object = ["kind", "namespace", "name", "uid"].map { involved[$0]?.stringValue ?? "" }.joined(separator: "/")
        let key = EventCorrelator.Key(object: object, type: type, reason: reason, message: message)
        let name = (involved["name"]?.stringValue ?? "object") + "." + String(UInt64(now * 1e9), radix: 16)
        let stamp = RFC3339.format(now.rounded(.down))
        var event: JSONValue = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "involvedObject": involved, "reason": .string(reason), "message": .string(message), "type": .string(type),
            "source": ["component": .string(component)], "firstTimestamp": .string(stamp), "lastTimestamp": .string(stamp),
            "count": 1, "reportingComponent": .string(component), "reportingInstance": .string(instance),
        ]
        let waiter = buffer.withLock { buffer -> CheckedContinuation<Void, Never>? in
            let seen = buffer.correlator.observe(key, name: name, timestamp: stamp)
            if let seen {
                if let index = buffer.pendingIndex[seen.name] {
                    buffer.pending[index].event["count"] = .int(Int64(seen.count))
                    buffer.pending[index].event["lastTimestamp"] = .string(stamp)
                    return nil
                }
                event[path: ["metadata", "name"]] = .string(seen.name)
                event["firstTimestamp"] = .string(seen.firstTimestamp)
                event["count"] = .int(Int64(seen.count))
            }
            guard buffer.pending.count < Self.bufferLimit else {
                buffer.dropped += 1
                return nil
            }
            buffer.pendingIndex[seen?.name ?? name] = buffer.pending.count
            buffer.pending.append(Post(event: event, key: key, isRepeat: seen != nil))
            defer { buffer.waiter = nil }
            return buffer.waiter
        }
        waiter?.resume()
    }

    /// Makes one write: a new event is created; a repeat patches the count and lastTimestamp of the one posted,
    /// or, if that one is gone (expired, deleted), is created again under its name with its count.
    private func post(_ post: Post) async {
        guard post.isRepeat else {
            _ = try? await events.create(post.event)
            return
        }
        let namespace = post.event[path: ["metadata", "namespace"]]?.stringValue
        let name = post.event[path: ["metadata", "name"]]?.stringValue ?? ""
        do {
            _ = try await events.patch(namespace: namespace, name: name,
                                       ["count": post.event["count"] ?? 1, "lastTimestamp": post.event["lastTimestamp"] ?? .null])
        } catch where error.isNotFound {
            _ = try? await events.create(post.event)
        } catch {
            // Lost like a dropped event; the next repeat tries again.
        }
    }

    /// Posts queued events until cancelled.
    public func run() async {
        while !Task.isCancelled {
            let batch = buffer.withLock { buffer -> [Post] in
                defer {
                    buffer.pending = []
                    buffer.pendingIndex = [:]
                }
                return buffer.pending
            }
            if batch.isEmpty {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let ready = buffer.withLock { buffer -> Bool in
                            if !buffer.pending.isEmpty || Task.isCancelled { return true }
                            buffer.waiter = continuation
                            return false
                        }
                        if ready { continuation.resume() }
                    }
                } onCancel: {
                    let waiter = buffer.withLock { buffer in
                        defer { buffer.waiter = nil }
                        return buffer.waiter
                    }
                    waiter?.resume()
                }
                continue
            }
            await withDiscardingTaskGroup { group in
                let stride = max(1, (batch.count + writers - 1) / writers)
                for start in Swift.stride(from: 0, to: batch.count, by: stride) {
                    let slice = batch[start..<min(start + stride, batch.count)]
                    group.addTask {
                        for post in slice { await self.post(post) }
                    }
                }
            }
        }
    }
}

/// The coordinates of a pod an event is about.
public protocol PodReference {
    var namespace: String { get }
    var name: String { get }
    var uid: String { get }
}
