import Resources
import Synchronization

/// An informer's local copy of the objects of one resource type, keyed `namespace/name` (`name` when cluster-
/// scoped), with indexes so that a controller asks "pods on node n" or "pods in namespace ns" without a scan.
/// Readers on any thread see whole objects as of some point of the watch.
public final class ObjectCache: Sendable {
    /// Names an index and computes the values an object is filed under (none: not in the index).
    public struct Indexer: Sendable {
        public var name: String
        public var values: @Sendable (JSONValue) -> [String]

        public init(name: String, values: @escaping @Sendable (JSONValue) -> [String]) {
            self.name = name
            self.values = values
        }

        public static let namespace = Indexer(name: "namespace") { object in
            object[path: ["metadata", "namespace"]]?.stringValue.map { [$0] } ?? []
        }
    }

    private struct State {
        var objects: [String: JSONValue] = [:]
        /// index name → value → keys.
        var indexes: [String: [String: Set<String>]] = [:]
    }

    private let indexers: [Indexer]
    private let state = Mutex(State())

    public init(indexers: [Indexer] = [.namespace]) {
        self.indexers = indexers
    }

    public static func key(of object: JSONValue) -> String {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        if let namespace = object[path: ["metadata", "namespace"]]?.stringValue, !namespace.isEmpty {
            return namespace + "/" + name
        }
        return name
    }

    public static func key(namespace: String?, name: String) -> String {
        if let namespace, !namespace.isEmpty { return namespace + "/" + name }
        return name
    }

    public var count: Int { state.withLock { $0.objects.count } }

    public func object(forKey key: String) -> JSONValue? {
        state.withLock { $0.objects[key] }
    }

    public func object(namespace: String?, name: String) -> JSONValue? {
        object(forKey: Self.key(namespace: namespace, name: name))
    }

    public var objects: [JSONValue] { state.withLock { Array($0.objects.values) } }
    public var keys: [String] { state.withLock { Array($0.objects.keys) } }

    /// The objects filed under `value` in the index `name`.
    public func objects(index name: String, value: String) -> [JSONValue] {
        state.withLock { state in
            (state.indexes[name]?[value] ?? []).compactMap { state.objects[$0] }
        }
    }

    /// Stores `object`, returning what it replaced.
    @discardableResult
    func upsert(_ object: JSONValue) -> JSONValue? {
        let key = Self.key(of: object)
        let filed = indexers.map { ($0.name, $0.values(object)) }
        return state.withLock { state in
            let old = state.objects.updateValue(object, forKey: key)
            if let old { unfile(key, old, in: &state) }
            for (name, values) in filed {
                for value in values { state.indexes[name, default: [:]][value, default: []].insert(key) }
            }
            return old
        }
    }

    @discardableResult
    func remove(_ object: JSONValue) -> JSONValue? {
        let key = Self.key(of: object)
        return state.withLock { state in
            guard let old = state.objects.removeValue(forKey: key) else { return nil }
            unfile(key, old, in: &state)
            return old
        }
    }

    /// Replaces the whole content after a list, returning the objects that were there and are not any more.
    func replace(with objects: [JSONValue]) -> (previous: [String: JSONValue], removed: [JSONValue]) {
        var fresh = State()
        for object in objects {
            let key = Self.key(of: object)
            fresh.objects[key] = object
            for indexer in indexers {
                for value in indexer.values(object) { fresh.indexes[indexer.name, default: [:]][value, default: []].insert(key) }
            }
        }
        let previous = state.withLock { state in
            defer { state = fresh }
            return state.objects
        }
        let removed = previous.filter { fresh.objects[$0.key] == nil }.map(\.value)
        return (previous, removed)
    }

    private func unfile(_ key: String, _ object: JSONValue, in state: inout State) {
        for indexer in indexers {
            for value in indexer.values(object) {
                state.indexes[indexer.name]?[value]?.remove(key)
                if state.indexes[indexer.name]?[value]?.isEmpty == true { state.indexes[indexer.name]?[value] = nil }
            }
        }
    }
}
