/// Which store lease an expiring object (an Event) is written with. Writing each Event with a lease of its own
/// would cost the store one grant per Event and a lease apiece to track; like kube-apiserver's lease manager,
/// one lease serves every such write for a while: it is granted for the TTL plus a reuse window and used while
/// it still has at least the TTL to run, so every object lives between the TTL and the TTL plus the window.
///
/// Pure: time is given (any fixed origin), the grant is the caller's.
struct LeaseReuse: Sendable, Equatable {
    /// How long every object written under a lease lives at least.
    let ttl: Duration
    /// How long one lease keeps being handed out: 5 % of the TTL, at most a minute (kube-apiserver's defaults).
    let window: Duration
    /// Objects attached to one lease before another is granted (a revoke deletes them all at once, in one
    /// store transaction: it must stay small).
    let maxObjects: Int

    struct Current: Sendable, Equatable {
        var id: Int64
        /// When the store lets it go at the earliest, by the caller's clock.
        var expires: Duration
        var objects: Int
    }

    private(set) var current: Current?

    init(ttl: Duration, maxObjects: Int = 1000) {
        self.ttl = ttl
        window = min(.seconds(60), ttl / 20)
        self.maxObjects = max(maxObjects, 1)
    }

    /// The TTL to grant a new lease with, in whole seconds (the store's unit), rounded up.
    var grantSeconds: Int64 {
        let total = ttl + window
        let (seconds, attoseconds) = total.components
        return max(1, seconds + (attoseconds > 0 ? 1 : 0))
    }

    /// The lease a write at `now` is attached to, counted as used; nil: a new one must be granted first.
    mutating func take(at now: Duration) -> Int64? {
        guard var lease = current, lease.expires - now >= ttl, lease.objects < maxObjects else { return nil }
        lease.objects += 1
        current = lease
        return lease.id
    }

    /// A lease the store granted for `grantSeconds`, asked for at `askedAt` (the store counts from a little
    /// later, so it expires no earlier than reckoned here). It serves the write that asked for it.
    mutating func granted(_ id: Int64, askedAt: Duration) {
        current = Current(id: id, expires: askedAt + .seconds(grantSeconds), objects: 1)
    }

    /// A write that waited for `id`'s grant is attached to it too (it may take a lease past `maxObjects` by the
    /// writes that waited together: harmless, and bounded by them).
    mutating func attach(to id: Int64) {
        if current?.id == id { current?.objects += 1 }
    }

    /// The store no longer has `id` (it expired early, or a restored store never had it): not handed out again.
    mutating func forget(_ id: Int64) {
        if current?.id == id { current = nil }
    }
}
