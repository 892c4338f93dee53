import Foundation
import Logging
import Resources
import Synchronization

/// Records core/v1 Events about objects ("Scheduled", "SuccessfulCreate", …), as `kubectl describe` shows them.
/// Recording never blocks the caller: events wait in a bounded buffer (beyond it they are dropped and counted,
/// as client-go's broadcaster drops under pressure) and a few writers post them.
public final class EventRecorder: Sendable {
    public let component: String
    private let events: ResourceClient
    private let instance: String
    private let buffer = Mutex<(pending: [JSONValue], dropped: Int, waiter: CheckedContinuation<Void, Never>?)>(([], 0, nil))
    public static let bufferLimit = 10_000
    private let writers: Int

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
        let name = (involved["name"]?.stringValue ?? "object") + "." + String(UInt64(now * 1e9), radix: 16)
        let stamp = RFC3339.format(now.rounded(.down))
        let event: JSONValue = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "involvedObject": involved, "reason": .string(reason), "message": .string(message), "type": .string(type),
            "source": ["component": .string(component)], "firstTimestamp": .string(stamp), "lastTimestamp": .string(stamp),
            "count": 1, "reportingComponent": .string(component), "reportingInstance": .string(instance),
        ]
        let waiter = buffer.withLock { buffer -> CheckedContinuation<Void, Never>? in
            guard buffer.pending.count < Self.bufferLimit else {
                buffer.dropped += 1
                return nil
            }
            buffer.pending.append(event)
            defer { buffer.waiter = nil }
            return buffer.waiter
        }
        waiter?.resume()
    }

    /// Posts queued events until cancelled.
    public func run() async {
        while !Task.isCancelled {
            let batch = buffer.withLock { buffer -> [JSONValue] in
                defer { buffer.pending = [] }
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
                        for event in slice { _ = try? await self.events.create(event) }
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
