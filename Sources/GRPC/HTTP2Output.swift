import NIOCore

/// What one HTTP/2 connection handler writes, gathered between flushes: frames go into one buffer handed to the
/// channel as one write, and flushes are coalesced — at the end of a read burst, or once per event-loop turn for
/// writes that come from elsewhere. Shared by our server's and our client's connection handlers.
///
/// A class, not a struct held in the handler: a flush or write can call back into the handler synchronously
/// (the socket drains and the channel becomes writable, which wakes streams that write again), and a mutating
/// method of a stored struct would still hold exclusive access to it then.
final class HTTP2Output {
    /// Frames written since the last hand-over.
    var frames: ByteBuffer
    private var handedOver = false
    private var inRead = false
    private var flushScheduled = false

    init(allocator: ByteBufferAllocator) {
        frames = allocator.buffer(capacity: 4096)
    }

    /// Our SETTINGS, then a WINDOW_UPDATE raising the connection's window from HTTP/2's 64 KiB to `window`.
    func writeSettings(_ settings: [(HTTP2.Setting, Int)], connectionWindow window: Int) {
        HTTP2.writeFrameHeader(.settings, length: 6 * settings.count, streamID: 0, to: &frames)
        for (setting, value) in settings { frames.writeMultipleIntegers(setting.rawValue, UInt32(value)) }
        if window > HTTP2.defaultWindow {
            HTTP2.writeWindowUpdate(streamID: 0, increment: window - HTTP2.defaultWindow, to: &frames)
        }
    }

    /// Hands the gathered frames to the channel without flushing, so that a payload written on its own follows
    /// them in order.
    func handOver(_ context: ChannelHandlerContext) {
        guard frames.readableBytes > 0 else { return }
        context.write(NIOAny(frames), promise: nil)
        handedOver = true
        frames = context.channel.allocator.buffer(capacity: max(4096, frames.readableBytes))
    }

    /// Hands over what is gathered and flushes everything handed over since the last flush.
    func flush(_ context: ChannelHandlerContext) {
        handOver(context)
        if handedOver {
            handedOver = false
            context.flush()
        }
    }

    func readStarted() {
        inRead = true
    }

    /// The read burst ended: its flush, which the caller does now, serves any flush scheduled meanwhile too.
    func readCompleted() {
        inRead = false
        flushScheduled = false
    }

    /// Whether the caller must schedule a flush on the event loop: none is scheduled, and no read burst is under
    /// way to flush at its end.
    func needsScheduledFlush() -> Bool {
        guard !inRead, !flushScheduled else { return false }
        flushScheduled = true
        return true
    }

    /// In the scheduled task: whether its flush is still due (a read burst may have flushed already).
    func takeScheduledFlush() -> Bool {
        defer { flushScheduled = false }
        return flushScheduled
    }
}
