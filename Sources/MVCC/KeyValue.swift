/// One version of a key, as etcd's `mvccpb.KeyValue` describes it.
public struct KeyValue: Sendable, Hashable {
    public var key: [UInt8]
    public var value: [UInt8]
    /// The revision of the last creation of this key (a put after a delete starts a new life).
    public var createRevision: Int64
    /// The revision of the last modification.
    public var modRevision: Int64
    /// Puts since creation, starting at 1; a delete resets it.
    public var version: Int64
    /// The lease the key is attached to, 0 for none.
    public var lease: Int64

    public init(key: [UInt8], value: [UInt8], createRevision: Int64, modRevision: Int64, version: Int64, lease: Int64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// A position in the store's history: `main` counts changes to the store, `sub` orders the changes made within
/// one main revision (a transaction or a multi-key delete touches several keys at one main revision).
public struct Revision: Sendable, Hashable, Comparable {
    public var main: Int64
    public var sub: Int64

    public init(main: Int64, sub: Int64) {
        self.main = main
        self.sub = sub
    }

    public static func < (lhs: Revision, rhs: Revision) -> Bool {
        (lhs.main, lhs.sub) < (rhs.main, rhs.sub)
    }
}
