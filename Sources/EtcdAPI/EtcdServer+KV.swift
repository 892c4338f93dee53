import EtcdProto
import GRPC
import MVCC
import Store

extension EtcdServer {
    static let kvService = "etcdserverpb.KV"

    /// A range's answer, its header carrying the revision the range was read at: a client that lists, then
    /// watches from the next revision (as Kubernetes' reflectors do) must not be told a later one, or it would
    /// miss the changes in between (applies go on while the read runs on the connection's thread).
    private func rangeResponse(_ range: RangeRequest) throws -> Etcdserverpb_RangeResponse {
        let response = try member.mvcc.range(range)
        return response.wire(header: header(revision: response.revision))
    }

    func registerKV(in router: inout GRPCRouter) {
        router.register(Self.kvService, "Range", unary(Etcdserverpb_RangeRequest.self) { [self] request, call in
            let range = try RangeRequest(wire: request)
            guard !request.serializable else {
                reply(call) { try rangeResponse(range) }
                return
            }
            member.awaitReadPoint { result in
                call.eventLoop.execute {
                    switch result {
                    case .success: self.reply(call) { try self.rangeResponse(range) }
                    case .failure(let error): call.finish(EtcdStatus.from(error))
                    }
                }
            }
        })
        router.register(Self.kvService, "Put", unary(Etcdserverpb_PutRequest.self) { [self] request, call in
            replicate(.put(PutRequest(wire: request)), call) { response in
                guard case .put(let put) = response else { throw Self.unexpected(response) }
                return put.wire(header: self.header(revision: put.revision))
            }
        })
        router.register(Self.kvService, "DeleteRange", unary(Etcdserverpb_DeleteRangeRequest.self) { [self] request, call in
            replicate(.deleteRange(DeleteRangeRequest(wire: request)), call) { response in
                guard case .deleteRange(let delete) = response else { throw Self.unexpected(response) }
                return delete.wire(header: self.header(revision: delete.revision))
            }
        })
        router.register(Self.kvService, "Txn", unary(Etcdserverpb_TxnRequest.self) { [self] request, call in
            replicate(.txn(try TxnRequest(wire: request)), call) { response in
                guard case .txn(let txn) = response else { throw Self.unexpected(response) }
                return txn.wire(header: self.header(revision: txn.revision))
            }
        })
        router.register(Self.kvService, "Compact", unary(Etcdserverpb_CompactionRequest.self) { [self] request, call in
            guard request.physical else {
                replicate(.compact(revision: request.revision), call) { response in
                    guard case .compact(let compact) = response else { throw Self.unexpected(response) }
                    var wire = Etcdserverpb_CompactionResponse()
                    wire.header = self.header(revision: compact.revision)
                    return wire
                }
                return
            }
            // physical: answer once the superseded versions are gone from storage, not just unreachable.
            member.apply(.compact(revision: request.revision)) { result in
                switch result {
                case .success(.compact(let compact)):
                    self.member.afterPurges {
                        call.eventLoop.execute {
                            self.reply(call) {
                                var wire = Etcdserverpb_CompactionResponse()
                                wire.header = self.header(revision: compact.revision)
                                return wire
                            }
                        }
                    }
                case .success(let other): call.finish(Self.unexpected(other))
                case .failure(let error): call.finish(EtcdStatus.from(error))
                }
            }
        })
    }

    /// A response of another kind than the command's: a bug, reported as gRPC's internal error.
    static func unexpected(_ response: MVCCResponse) -> GRPCStatus {
        GRPCStatus(.internal, "podium: unexpected response \(response)")
    }
}
