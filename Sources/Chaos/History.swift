/// What a chaos run records: every client operation with its invocation and completion times, the store's own
/// event log, and what each watcher saw. Times are seconds since the run started (monotonic).
public struct History: Codable, Sendable {
    public var operations: [ClientOperation]
    /// Every change of the run's keys, in revision order, as a watch from the first revision replays them at
    /// the end of the run: the store's own account, against which acknowledged writes and watchers are checked.
    public var log: [Event]
    public var watches: [WatchRecord]
    public var faults: [Fault]

    public init(operations: [ClientOperation] = [], log: [Event] = [], watches: [WatchRecord] = [], faults: [Fault] = []) {
        self.operations = operations
        self.log = log
        self.watches = watches
        self.faults = faults
    }
}

/// One fault the nemesis injected or healed.
public struct Fault: Codable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case kill, restart, pause, resume
        /// Every peer link to and from the member dropped.
        case isolate
        /// The member's links to the others dropped: it hears them, they do not hear it.
        case oneWay
        /// The member's peer links delayed by 300 ms each way.
        case slow
        /// Every link restored.
        case heal
    }

    public var time: Double
    public var kind: Kind
    public var member: String
    public var wasLeader: Bool

    public init(time: Double, kind: Kind, member: String, wasLeader: Bool) {
        self.time = time
        self.kind = kind
        self.member = member
        self.wasLeader = wasLeader
    }
}

public struct ClientOperation: Codable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case put, get, delete
        /// Compare-and-swap: a txn putting `value` if the key's value is `expected` (nil: the key is absent).
        case cas
    }

    public enum Outcome: String, Codable, Sendable {
        case ok
        /// Definitely without effect (refused before it could be applied).
        case fail
        /// Maybe applied, maybe not: the client gave up or lost the connection.
        case unknown
    }

    public var client: Int
    public var kind: Kind
    public var key: String
    /// The value put (put, cas); unique per write, so the log tells which write a change came from.
    public var value: String?
    public var expected: String?
    public var invoked: Double
    public var completed: Double?
    public var outcome: Outcome
    /// What a get read (nil: absent), or whether a cas swapped.
    public var read: String?
    public var swapped: Bool?
    /// How many keys a delete removed (0: the key was absent, so it changed nothing).
    public var deleted: Int64?
    /// The store revision in the response header: every revision up to it was applied before the response.
    public var revision: Int64?

    public init(client: Int, kind: Kind, key: String, value: String? = nil, expected: String? = nil, invoked: Double) {
        self.client = client
        self.kind = kind
        self.key = key
        self.value = value
        self.expected = expected
        self.invoked = invoked
        outcome = .unknown
    }
}

/// One change of a key.
public struct Event: Codable, Sendable, Hashable {
    public var revision: Int64
    public var key: String
    /// nil for a delete.
    public var value: String?

    public init(revision: Int64, key: String, value: String?) {
        self.revision = revision
        self.key = key
        self.value = value
    }
}

/// The events one watcher received, across the reconnections it needed, from the revision it first asked for.
public struct WatchRecord: Codable, Sendable {
    public var watcher: Int
    public var startRevision: Int64
    public var events: [Event]
    /// How many times the watcher resumed on a new stream from the revision after its last event.
    public var resumptions: Int

    public init(watcher: Int, startRevision: Int64, events: [Event] = [], resumptions: Int = 0) {
        self.watcher = watcher
        self.startRevision = startRevision
        self.events = events
        self.resumptions = resumptions
    }
}
