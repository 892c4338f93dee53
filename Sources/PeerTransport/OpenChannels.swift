import NIOCore
import Synchronization

/// Channels to close on shutdown (those a listener accepted, those a proxy opened), each forgotten when it
/// closes.
final class OpenChannels: Sendable {
    private let channels = Mutex<(open: [ObjectIdentifier: Channel], closing: Bool)>(([:], false))

    /// Tracks a channel; one added after `closeAll` began (an accept that raced the listener's close) is closed
    /// at once.
    func add(_ channel: Channel) {
        let key = ObjectIdentifier(channel)
        let admitted = channels.withLock { state in
            if !state.closing { state.open[key] = channel }
            return !state.closing
        }
        guard admitted else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [self] _ in _ = channels.withLock { $0.open.removeValue(forKey: key) } }
    }

    var all: [Channel] { channels.withLock { Array($0.open.values) } }

    /// Closes every channel and waits until each is fully closed.
    func closeAll() async {
        let all = channels.withLock { state in
            state.closing = true
            return Array(state.open.values)
        }
        for channel in all {
            channel.close(promise: nil)
            try? await channel.closeFuture.get()
        }
    }
}
