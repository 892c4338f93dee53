import Resources

/// The resources the scheduler accounts for, in integer units: milli-CPU, bytes of memory and ephemeral storage,
/// pod slots. Requests add up; a node fits a pod when what is requested there plus the pod stays within
/// allocatable.
public struct ResourceAmounts: Sendable, Equatable {
    public var milliCPU: Int64 = 0
    public var memory: Int64 = 0
    public var ephemeralStorage: Int64 = 0
    public var pods: Int64 = 0

    public init(milliCPU: Int64 = 0, memory: Int64 = 0, ephemeralStorage: Int64 = 0, pods: Int64 = 0) {
        self.milliCPU = milliCPU
        self.memory = memory
        self.ephemeralStorage = ephemeralStorage
        self.pods = pods
    }

    /// Reads a ResourceList (`{"cpu": "500m", "memory": "1Gi"}`); unknown or malformed entries count as zero.
    public init(list: JSONValue?) {
        func quantity(_ name: String) -> Quantity? { list?[name]?.stringValue.flatMap(Quantity.init) }
        milliCPU = quantity("cpu")?.milliValue ?? 0
        memory = quantity("memory")?.value ?? 0
        ephemeralStorage = quantity("ephemeral-storage")?.value ?? 0
        pods = quantity("pods")?.value ?? 0
    }

    public static func + (lhs: Self, rhs: Self) -> Self {
        Self(milliCPU: lhs.milliCPU &+ rhs.milliCPU, memory: lhs.memory &+ rhs.memory,
             ephemeralStorage: lhs.ephemeralStorage &+ rhs.ephemeralStorage, pods: lhs.pods &+ rhs.pods)
    }

    public static func - (lhs: Self, rhs: Self) -> Self {
        Self(milliCPU: lhs.milliCPU &- rhs.milliCPU, memory: lhs.memory &- rhs.memory,
             ephemeralStorage: lhs.ephemeralStorage &- rhs.ephemeralStorage, pods: lhs.pods &- rhs.pods)
    }

    /// The larger of each resource (an init container's requests against the sum of the app containers').
    func max(_ other: Self) -> Self {
        Self(milliCPU: Swift.max(milliCPU, other.milliCPU), memory: Swift.max(memory, other.memory),
             ephemeralStorage: Swift.max(ephemeralStorage, other.ephemeralStorage), pods: Swift.max(pods, other.pods))
    }
}
