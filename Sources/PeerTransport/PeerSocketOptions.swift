import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Socket options every peer connection gets, so a link whose other end vanished without a word (a partition
/// that drops packets, a machine powered off) is noticed and closed rather than trusted for minutes:
/// - TCP keepalive probes an idle connection (a link between two followers is idle for long stretches; so is an
///   incoming snapshot's while its sender is gone), closing it after `keepaliveIdle + keepaliveInterval *
///   keepaliveProbes` of silence — and with it whatever a half-received snapshot held;
/// - `TCP_USER_TIMEOUT` closes a connection whose sent data stays unacknowledged that long. Without it, after a
///   partition heals the data queued behind TCP's retransmission backoff waits up to two minutes; closed, the
///   connection is made again at once.
enum PeerSocketOptions {
    static func apply(to bootstrap: ClientBootstrap, _ limits: PeerTransport.Limits) -> ClientBootstrap {
        options(limits).reduce(bootstrap) { $0.channelOption(ChannelOptions.Types.SocketOption(level: $1.level, name: $1.name), value: Int($1.value)) }
    }

    static func applyToAccepted(_ bootstrap: ServerBootstrap, _ limits: PeerTransport.Limits) -> ServerBootstrap {
        options(limits).reduce(bootstrap) { $0.childChannelOption(ChannelOptions.Types.SocketOption(level: $1.level, name: $1.name), value: Int($1.value)) }
    }

    static func options(_ limits: PeerTransport.Limits) -> [(level: NIOBSDSocket.OptionLevel, name: NIOBSDSocket.Option, value: CInt)] {
        var options: [(level: NIOBSDSocket.OptionLevel, name: NIOBSDSocket.Option, value: CInt)] =
            [(.tcp, .tcp_nodelay, 1), (.socket, .so_keepalive, 1)]
        #if os(Linux)
        options += [(.tcp, NIOBSDSocket.Option(rawValue: TCP_KEEPIDLE), seconds(limits.keepaliveIdle)),
                    (.tcp, NIOBSDSocket.Option(rawValue: TCP_KEEPINTVL), seconds(limits.keepaliveInterval)),
                    (.tcp, NIOBSDSocket.Option(rawValue: TCP_KEEPCNT), CInt(limits.keepaliveProbes)),
                    (.tcp, NIOBSDSocket.Option(rawValue: CInt(TCP_USER_TIMEOUT)), milliseconds(limits.unacknowledgedDataTimeout))]
        #endif
        return options
    }

    private static func seconds(_ amount: TimeAmount) -> CInt { CInt(max(1, amount.nanoseconds / 1_000_000_000)) }
    private static func milliseconds(_ amount: TimeAmount) -> CInt { CInt(max(1, amount.nanoseconds / 1_000_000)) }
}
