/// Which Events repeat one already posted, as client-go's EventCorrelator decides: the same source, object,
/// type, reason and message make one Event whose count and lastTimestamp grow ("x12 over 3m" in `kubectl
/// describe`), not a new object per occurrence. Pure; remembers a bounded number of recent events (about
/// `capacity`, least recently seen forgotten first, in two generations so that forgetting is O(1)).
struct EventCorrelator: Sendable {
    struct Key: Hashable, Sendable {
        /// The involved object: kind, namespace, name and uid.
        var object: String
        var type: String
        var reason: String
        var message: String
    }

    /// An Event already posted: its name, how often it happened, and when first.
    struct Seen: Sendable, Equatable {
        var name: String
        var count: Int
        var firstTimestamp: String
    }

    let capacity: Int
    private var current: [Key: Seen] = [:]
    private var previous: [Key: Seen] = [:]

    init(capacity: Int = 4096) {
        self.capacity = max(2, capacity)
    }

    /// Records an occurrence; returns what was seen before it, counted up (nil: the first, posted as `name`).
    mutating func observe(_ key: Key, name: String, timestamp: String) -> Seen? {
        if var seen = current[key] ?? previous.removeValue(forKey: key) {
            seen.count += 1
            remember(key, seen)
            return seen
        }
        remember(key, Seen(name: name, count: 1, firstTimestamp: timestamp))
        return nil
    }

    /// How many events it remembers (at most `capacity`).
    var remembered: Int { current.count + previous.count }

    private mutating func remember(_ key: Key, _ seen: Seen) {
        current[key] = seen
        if current.count >= capacity / 2 {
            previous = current
            current = [:]
        }
    }
}
