import EtcdProto
import Foundation
import GRPC
import MVCC

// Wire messages (etcdserverpb, mvccpb) to the store's requests and back. Field for field: the store's
// requests were shaped after etcd's.

extension KeyValue {
    func wire() -> Mvccpb_KeyValue {
        var kv = Mvccpb_KeyValue()
        kv.key = Data(key)
        kv.value = Data(value)
        kv.createRevision = createRevision
        kv.modRevision = modRevision
        kv.version = version
        kv.lease = lease
        return kv
    }
}

extension KeyRange {
    init(key: Data, end: Data) {
        self.init(key: [UInt8](key), end: [UInt8](end))
    }
}

extension RangeRequest {
    init(wire request: Etcdserverpb_RangeRequest) throws {
        self.init(range: KeyRange(key: request.key, end: request.rangeEnd), limit: request.limit,
                  revision: request.revision)
        switch request.sortOrder {
        case .none: sortOrder = .none
        case .ascend: sortOrder = .ascend
        case .descend: sortOrder = .descend
        case .UNRECOGNIZED: throw GRPCStatus(.invalidArgument, "etcdserver: unknown sort order")
        }
        switch request.sortTarget {
        case .key: sortTarget = .key
        case .version: sortTarget = .version
        case .create: sortTarget = .create
        case .mod: sortTarget = .mod
        case .value: sortTarget = .value
        case .UNRECOGNIZED: throw GRPCStatus(.invalidArgument, "etcdserver: unknown sort target")
        }
        keysOnly = request.keysOnly
        countOnly = request.countOnly
        minModRevision = request.minModRevision
        maxModRevision = request.maxModRevision
        minCreateRevision = request.minCreateRevision
        maxCreateRevision = request.maxCreateRevision
    }
}

extension RangeResponse {
    func wire(header: Etcdserverpb_ResponseHeader) -> Etcdserverpb_RangeResponse {
        var response = Etcdserverpb_RangeResponse()
        response.header = header
        response.kvs = kvs.map { $0.wire() }
        response.more = more
        response.count = count
        return response
    }
}

extension PutRequest {
    init(wire request: Etcdserverpb_PutRequest) {
        self.init(key: [UInt8](request.key), value: [UInt8](request.value), lease: request.lease,
                  prevKV: request.prevKv, ignoreValue: request.ignoreValue, ignoreLease: request.ignoreLease)
    }
}

extension PutResponse {
    func wire(header: Etcdserverpb_ResponseHeader) -> Etcdserverpb_PutResponse {
        var response = Etcdserverpb_PutResponse()
        response.header = header
        if let prevKV { response.prevKv = prevKV.wire() }
        return response
    }
}

extension DeleteRangeRequest {
    init(wire request: Etcdserverpb_DeleteRangeRequest) {
        self.init(range: KeyRange(key: request.key, end: request.rangeEnd), prevKV: request.prevKv)
    }
}

extension DeleteRangeResponse {
    func wire(header: Etcdserverpb_ResponseHeader) -> Etcdserverpb_DeleteRangeResponse {
        var response = Etcdserverpb_DeleteRangeResponse()
        response.header = header
        response.deleted = deleted
        response.prevKvs = prevKVs.map { $0.wire() }
        return response
    }
}

extension Compare {
    init(wire compare: Etcdserverpb_Compare) throws {
        let result: Result
        switch compare.result {
        case .equal: result = .equal
        case .greater: result = .greater
        case .less: result = .less
        case .notEqual: result = .notEqual
        case .UNRECOGNIZED: throw GRPCStatus(.invalidArgument, "etcdserver: unknown compare result")
        }
        let target: Target
        switch compare.target {
        case .version: target = .version(compare.version)
        case .create: target = .createRevision(compare.createRevision)
        case .mod: target = .modRevision(compare.modRevision)
        case .value: target = .value([UInt8](compare.value))
        case .lease: target = .lease(compare.lease)
        case .UNRECOGNIZED: throw GRPCStatus(.invalidArgument, "etcdserver: unknown compare target")
        }
        self.init(range: KeyRange(key: compare.key, end: compare.rangeEnd), result: result, target: target)
    }
}

extension TxnRequest {
    init(wire request: Etcdserverpb_TxnRequest) throws {
        self.init(compare: try request.compare.map(Compare.init(wire:)),
                  success: try request.success.map(RequestOp.init(wire:)),
                  failure: try request.failure.map(RequestOp.init(wire:)))
    }
}

extension RequestOp {
    init(wire op: Etcdserverpb_RequestOp) throws {
        switch op.request {
        case .requestRange(let range): self = .range(try RangeRequest(wire: range))
        case .requestPut(let put): self = .put(PutRequest(wire: put))
        case .requestDeleteRange(let delete): self = .deleteRange(DeleteRangeRequest(wire: delete))
        case .requestTxn(let txn): self = .txn(try TxnRequest(wire: txn))
        case nil: throw GRPCStatus(.invalidArgument, "etcdserver: empty request operation in txn")
        }
    }
}

extension TxnResponse {
    func wire(header: Etcdserverpb_ResponseHeader) -> Etcdserverpb_TxnResponse {
        var response = Etcdserverpb_TxnResponse()
        response.header = header
        response.succeeded = succeeded
        response.responses = responses.map { answer in
            var wire = Etcdserverpb_ResponseOp()
            switch answer {
            case .range(let range): wire.responseRange = range.wire(header: header)
            case .put(let put): wire.responsePut = put.wire(header: header)
            case .deleteRange(let delete): wire.responseDeleteRange = delete.wire(header: header)
            case .txn(let nested): wire.responseTxn = nested.wire(header: header)
            }
            return wire
        }
        return response
    }
}

extension WatchEvent {
    var wire: Mvccpb_Event {
        var event = Mvccpb_Event()
        event.type = kind == .put ? .put : .delete
        event.kv = kv.wire()
        if let prevKV { event.prevKv = prevKV.wire() }
        return event
    }
}

extension Alarm.Kind {
    /// etcd's name of the alarm type, as Status reports it.
    var wireName: String {
        switch self {
        case .noSpace: return "NOSPACE"
        case .corrupt: return "CORRUPT"
        }
    }
}
