import Dispatch

/// Queues for slow, rare work that must stay off the event loops.
enum DispatchQueueHolder {
    static let maintenance = DispatchQueue(label: "podium.etcdapi.maintenance", qos: .utility)
}
