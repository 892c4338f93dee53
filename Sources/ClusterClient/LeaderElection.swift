import Resources

/// What a `coordination.k8s.io/v1` Lease says about who leads.
public struct LeaseRecord: Sendable, Equatable {
    public var holderIdentity: String
    public var leaseDurationSeconds: Int
    public var acquireTime: String
    public var renewTime: String
    public var leaseTransitions: Int
    /// The Lease object's resourceVersion (empty for a Lease not yet created): writes are compare-and-swap on it.
    public var resourceVersion: String

    public init(holderIdentity: String, leaseDurationSeconds: Int, acquireTime: String, renewTime: String,
                leaseTransitions: Int, resourceVersion: String = "") {
        self.holderIdentity = holderIdentity
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.leaseTransitions = leaseTransitions
        self.resourceVersion = resourceVersion
    }

    public init(lease: JSONValue) {
        let spec = lease["spec"]
        self.init(holderIdentity: spec?["holderIdentity"]?.stringValue ?? "",
                  leaseDurationSeconds: Int(spec?["leaseDurationSeconds"]?.intValue ?? 0),
                  acquireTime: spec?["acquireTime"]?.stringValue ?? "", renewTime: spec?["renewTime"]?.stringValue ?? "",
                  leaseTransitions: Int(spec?["leaseTransitions"]?.intValue ?? 0),
                  resourceVersion: lease[path: ["metadata", "resourceVersion"]]?.stringValue ?? "")
    }

    /// The Lease object carrying this record.
    public func lease(namespace: String, name: String) -> JSONValue {
        var metadata: JSONValue = ["name": .string(name), "namespace": .string(namespace)]
        if !resourceVersion.isEmpty { metadata["resourceVersion"] = .string(resourceVersion) }
        var spec: JSONValue = ["holderIdentity": .string(holderIdentity),
                               "leaseDurationSeconds": .int(Int64(leaseDurationSeconds)),
                               "leaseTransitions": .int(Int64(leaseTransitions))]
        if !acquireTime.isEmpty { spec["acquireTime"] = .string(acquireTime) }
        if !renewTime.isEmpty { spec["renewTime"] = .string(renewTime) }
        return ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec]
    }
}

/// Leader election by Lease, the pure core (client-go's leaderelection, clock-free): the shell reads the Lease,
/// tells `observe`, asks `decide` what to write, and reports the write's outcome.
///
/// Safety without synchronized clocks: a candidate takes a Lease only after seeing it unchanged for
/// `leaseDuration` on *its own* clock, counted from when it *observed* the last change; a leader counts its
/// deadline from when it *sent* its last successful renewal, which is before any candidate can have observed it,
/// and stops acting at `renewDeadline` (< `leaseDuration`). So the old leader stops before anyone may take over,
/// provided clocks run at rates within (leaseDuration − renewDeadline) / leaseDuration of each other.
public struct LeaderElection: Sendable {
    public struct Timing: Sendable, Equatable {
        /// How long a Lease stands without renewal before others may take it.
        public var leaseDuration: Double
        /// How long a leader may go without a successful renewal before it stops acting.
        public var renewDeadline: Double
        /// How often the leader renews.
        public var renewPeriod: Double
        /// How often candidates (and a leader whose renewal failed) try again.
        public var retryPeriod: Double

        /// Tuned for a fast store: 4 s / 3 s / 1 s / 0.5 s (Kubernetes: lease 15 s, renew deadline 10 s, retry 2 s).
        public static let `default` = Timing(leaseDuration: 4, renewDeadline: 3, renewPeriod: 1, retryPeriod: 0.5)

        public init(leaseDuration: Double, renewDeadline: Double, renewPeriod: Double, retryPeriod: Double) {
            self.leaseDuration = leaseDuration
            self.renewDeadline = renewDeadline
            self.renewPeriod = renewPeriod
            self.retryPeriod = retryPeriod
        }

        /// Why the timing is unsafe or unworkable, if it is.
        public var problem: String? {
            if !(retryPeriod > 0 && renewPeriod > 0) { return "the renew and retry periods must be positive" }
            if !(renewDeadline < leaseDuration) { return "the renew deadline must be shorter than the lease duration" }
            if !(renewPeriod < renewDeadline) { return "the renew period must be shorter than the renew deadline" }
            return nil
        }
    }

    public enum Decision: Sendable, Equatable {
        /// Write this record (create the Lease when it has no resourceVersion), then report `written` (after a failure, read the Lease again).
        case write(LeaseRecord)
        /// Nothing to write before `until` (seconds on the shell's clock): read the Lease again then.
        case wait(until: Double)
    }

    public let identity: String
    public let timing: Timing
    /// The Lease as last read, and when (our clock) it was last seen to change.
    public private(set) var observed: LeaseRecord?
    private var observedChangeAt = -Double.infinity
    /// When the last successful renewal (or acquisition) was sent.
    private var lastRenewalSent: Double?
    private var lastAttempt = -Double.infinity

    public init(identity: String, timing: Timing = .default) {
        self.identity = identity
        self.timing = timing
    }

    /// Records the Lease as read at `now` (nil: there is none).
    public mutating func observe(_ lease: LeaseRecord?, at now: Double) {
        let changed = lease?.holderIdentity != observed?.holderIdentity || lease?.renewTime != observed?.renewTime
            || lease?.resourceVersion != observed?.resourceVersion
        if changed || observed == nil { observedChangeAt = now }
        observed = lease
        if lease?.holderIdentity != identity { lastRenewalSent = nil }
    }

    /// Whether this instance may act as leader at `now`.
    public func isLeading(at now: Double) -> Bool {
        guard let sent = lastRenewalSent else { return false }
        return now < sent + timing.renewDeadline
    }

    /// The moment leadership lapses unless renewed (nil when not leading).
    public var leadershipDeadline: Double? { lastRenewalSent.map { $0 + timing.renewDeadline } }

    /// What to do at `now`; `wallClock` is the RFC 3339 time to write into the Lease (for people reading it).
    public mutating func decide(now: Double, wallClock: String) -> Decision {
        let leading = isLeading(at: now)
        if let current = observed, current.holderIdentity == identity {
            // Ours: renew every renewPeriod; after a failed attempt, again after retryPeriod.
            let retryDue = lastAttempt + timing.retryPeriod
            let due = leading ? max((lastRenewalSent ?? now) + timing.renewPeriod, retryDue) : retryDue
            if now < due { return .wait(until: due) }
            lastAttempt = now
            var renewed = current
            renewed.renewTime = wallClock
            renewed.leaseDurationSeconds = Int(timing.leaseDuration.rounded(.up))
            return .write(renewed)
        }
        if let current = observed, !current.holderIdentity.isEmpty {
            // Held by another: it stands until unchanged for its duration (our clock, from when we saw it change).
            let held = max(Double(current.leaseDurationSeconds), 0)
            let free = observedChangeAt + held
            if now < free { return .wait(until: max(free, now + timing.retryPeriod)) }
        }
        if now < lastAttempt + timing.retryPeriod { return .wait(until: lastAttempt + timing.retryPeriod) }
        lastAttempt = now
        let transitions = (observed?.leaseTransitions ?? 0) + (observed.map { $0.holderIdentity.isEmpty ? 0 : 1 } ?? 0)
        return .write(LeaseRecord(holderIdentity: identity, leaseDurationSeconds: Int(timing.leaseDuration.rounded(.up)),
                                  acquireTime: wallClock, renewTime: wallClock, leaseTransitions: transitions,
                                  resourceVersion: observed?.resourceVersion ?? ""))
    }

    /// The write sent at `sentAt` succeeded; `stored` is the Lease as the server now holds it.
    public mutating func written(_ stored: LeaseRecord, sentAt: Double, now: Double) {
        observed = stored
        observedChangeAt = now
        if stored.holderIdentity == identity { lastRenewalSent = sentAt }
    }

    /// The record that gives the Lease up (on a clean shutdown), so that a standby takes over at once; nil when not
    /// the holder.
    public func release(wallClock: String) -> LeaseRecord? {
        guard var current = observed, current.holderIdentity == identity else { return nil }
        current.holderIdentity = ""
        current.leaseDurationSeconds = 1
        current.renewTime = wallClock
        return current
    }

    /// Forgets leadership (after a release, or when the shell stops).
    public mutating func stepDown() {
        lastRenewalSent = nil
    }
}
