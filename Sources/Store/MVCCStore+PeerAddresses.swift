import MVCC
import Raft

extension MVCCStore {
    /// Where the members recorded in the store (added since the cluster started, or moved by a member update) are
    /// reached: their first peer URL, for those that have a valid one.
    func recordedPeerAddresses() -> [NodeID: PeerAddress] {
        var addresses: [NodeID: PeerAddress] = [:]
        for record in (try? members()) ?? [] {
            if let url = record.peerURLs.first, let address = PeerAddress(url: url) { addresses[record.id] = address }
        }
        return addresses
    }
}
