import NIOCore
import NIOHPACK
import NIOHTTP2

/// Serves every gRPC call of one HTTP/2 connection. It sits right after `NIOHTTP2Handler` and routes frames by
/// stream ID itself: no child channel per stream, which is what makes a call cheap (see
/// shared/reference/grpc-cost.md). It also does the inbound flow control a stream multiplexer would do.
final class GRPCConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = Never
    typealias OutboundOut = HTTP2Frame

    struct Limits {
        var maxMessageBytes: Int
        /// Inbound window per stream and for the connection, advertised up front and topped up as data arrives.
        var windowBytes: Int
    }

    final class Stream {
        let call: ServerCall
        let method: GRPCMethod
        var reader: MessageReader
        var receiver: (any ServerCallReceiver)?
        var unaryRequest: ByteBuffer?
        var unaryRequestCount = 0
        var headersSent = false
        var requestsEnded = false
        var deadline: Scheduled<Void>?
        var consumedSinceUpdate = 0
        var outboundWindow: Int
        var blocked = false
        /// Framed messages sent since the last flush, written as one DATA frame when the connection flushes.
        var pending: ByteBuffer?

        init(call: ServerCall, method: GRPCMethod, maxMessageBytes: Int, outboundWindow: Int) {
            self.call = call
            self.method = method
            reader = MessageReader(maxMessageBytes: maxMessageBytes)
            self.outboundWindow = outboundWindow
        }
    }

    /// Most bytes of messages gathered into one DATA frame.
    static let batchBytes = 64 << 10
    /// Most bytes of streaming responses handed to the HTTP/2 layer but not yet written to the socket. The
    /// per-stream windows alone do not bound it: streams share the connection's window, and what does not fit
    /// waits inside the HTTP/2 layer, so a thousand watchers behind one slow client could pile up a gigabyte.
    static let maxQueuedBytes = 4 << 20

    private let router: GRPCRouter
    private let limits: Limits
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var context: ChannelHandlerContext?
    private var connectionConsumed = 0
    private var peerInitialWindow = 65_535
    private var inRead = false
    private var flushPending = false
    /// Streams whose `pending` messages still have to be written.
    private var streamsWithPending: [Stream] = []
    /// Streaming responses' bytes written to the HTTP/2 layer and not yet to the socket (see `maxQueuedBytes`).
    private var queuedBytes = 0

    init(router: GRPCRouter, limits: Limits) {
        self.router = router
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        // Raise the connection window from HTTP/2's 64 KiB, so large requests need not wait for round trips.
        let increment = limits.windowBytes - 65_535
        if increment > 0 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: increment))),
                          promise: nil)
            context.flush()
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inRead = true
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            if let stream = streams[frame.streamID] {
                // Trailers from the client: only END_STREAM matters.
                if headers.endStream { endRequests(stream) }
            } else {
                open(frame.streamID, headers: headers.headers, endStream: headers.endStream, context: context)
            }
        case .data(let payload):
            let flowControlled = payload.data.readableBytes + (payload.paddingBytes.map { $0 + 1 } ?? 0)
            creditConnection(flowControlled, context: context)
            guard let stream = streams[frame.streamID], case .byteBuffer(let bytes) = payload.data else { return }
            creditStream(frame.streamID, stream, flowControlled, context: context)
            received(bytes, on: stream)
            if payload.endStream, streams[frame.streamID] != nil { endRequests(stream) }
        case .settings(.settings(let settings)):
            for setting in settings where setting.parameter == .initialWindowSize {
                peerInitialWindow = setting.value
            }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inRead = false
        flushPending = false
        writePending(context)
        context.flush()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent {
            if let stream = streams.removeValue(forKey: closed.streamID) { cancel(stream) }
        } else if let window = event as? NIOHTTP2WindowUpdatedEvent, let outbound = window.outboundWindowSize,
                  let stream = streams[window.streamID] {
            stream.outboundWindow = outbound
            if stream.blocked, outbound > 0, context.channel.isWritable, queuedBytes < Self.maxQueuedBytes {
                stream.blocked = false
                stream.receiver?.becameWritable()
            }
        } else if let change = event as? NIOHTTP2BulkStreamWindowChangeEvent {
            for stream in streams.values {
                stream.outboundWindow += change.delta
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let open = streams.values
        streams = [:]
        for stream in open { cancel(stream) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Stream-level protocol errors are handled by NIOHTTP2Handler (it resets the stream); anything reaching
        // here concerns the connection.
        context.close(promise: nil)
    }

    // MARK: calls

    private func open(_ streamID: HTTP2StreamID, headers: HPACKHeaders, endStream: Bool, context: ChannelHandlerContext) {
        let call = ServerCall(eventLoop: context.eventLoop, allocator: context.channel.allocator, requestHeaders: headers,
                              streamID: streamID, connection: self)
        guard let path = headers.first(name: ":path"), let method = router.method(forPath: path) else {
            writeTrailersOnly(streamID, status: GRPCStatus(.unimplemented, "unknown method \(headers.first(name: ":path") ?? "")"))
            return
        }
        if let contentType = headers.first(name: "content-type"), !contentType.hasPrefix("application/grpc") {
            writeTrailersOnly(streamID, status: GRPCStatus(.internal, "unsupported content-type \(contentType)"))
            return
        }
        let stream = Stream(call: call, method: method, maxMessageBytes: limits.maxMessageBytes,
                            outboundWindow: peerInitialWindow)
        streams[streamID] = stream
        if let timeout = headers.first(name: "grpc-timeout").flatMap(GRPCTimeout.parse) {
            stream.deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                self?.expire(streamID)
            }
        }
        if case .streaming(let start) = method { stream.receiver = start(call) }
        if endStream { endRequests(stream) }
    }

    private func received(_ bytes: ByteBuffer, on stream: Stream) {
        let messages: [ByteBuffer]
        do {
            messages = try stream.reader.append(bytes)
        } catch MessageReader.Failure.tooLarge(let length) {
            fail(stream, GRPCStatus(.resourceExhausted,
                                    "grpc: received message larger than max (\(length) vs. \(limits.maxMessageBytes))"))
            return
        } catch {
            fail(stream, GRPCStatus(.internal, "grpc: compressed message received but no compression was negotiated"))
            return
        }
        for message in messages {
            switch stream.method {
            case .unary:
                stream.unaryRequestCount += 1
                stream.unaryRequest = message
            case .streaming:
                stream.receiver?.received(message)
            }
        }
    }

    private func endRequests(_ stream: Stream) {
        guard !stream.requestsEnded else { return }
        stream.requestsEnded = true
        if stream.reader.hasPartialMessage {
            fail(stream, GRPCStatus(.internal, "grpc: the request ended inside a message"))
            return
        }
        switch stream.method {
        case .unary(let handle):
            guard stream.unaryRequestCount == 1, let request = stream.unaryRequest else {
                fail(stream, GRPCStatus(.unimplemented,
                                        "grpc: a unary call needs exactly one request message, got \(stream.unaryRequestCount)"))
                return
            }
            stream.unaryRequest = nil
            handle(request, stream.call)
        case .streaming:
            stream.receiver?.requestsEnded()
        }
    }

    private func expire(_ streamID: HTTP2StreamID) {
        guard let stream = streams[streamID] else { return }
        stream.deadline = nil
        fail(stream, GRPCStatus(.deadlineExceeded, "context deadline exceeded"))
        stream.receiver?.cancelled()
        stream.receiver = nil
    }

    /// Ends a call from the server side because of a problem with the request.
    private func fail(_ stream: Stream, _ status: GRPCStatus) {
        finish(stream.call, status: status)
    }

    private func cancel(_ stream: Stream) {
        stream.call.ended = true
        stream.pending = nil
        stream.deadline?.cancel()
        stream.receiver?.cancelled()
        stream.receiver = nil
    }

    // MARK: sending (on the event loop, via ServerCall)

    func send(_ message: ByteBuffer, on call: ServerCall) {
        guard !call.ended, let context, let stream = streams[call.streamID] else { return }
        writeResponseHeadersIfNeeded(stream, context: context)
        var framed = GRPCFraming.frame(message, allocator: context.channel.allocator)
        stream.outboundWindow -= framed.readableBytes
        if stream.outboundWindow <= 0 { stream.blocked = true }
        // Messages sent before the next flush share one DATA frame: a watch stream delivering to a hundred
        // watchers costs one frame, not a hundred, in the HTTP/2 layer and on the wire.
        if var pending = stream.pending {
            stream.pending = nil
            if pending.readableBytes + framed.readableBytes > Self.batchBytes {
                // Full: out it goes, and this message starts the next batch.
                writeData(pending, on: stream, context: context)
                stream.pending = framed
            } else {
                if pending.capacity < Self.batchBytes {
                    // The second message: gather into a buffer of the batch's full size, allocated once (growing
                    // one by reallocation would fault in fresh pages again and again).
                    var batch = context.channel.allocator.buffer(capacity: Self.batchBytes)
                    batch.writeBuffer(&pending)
                    pending = batch
                }
                pending.writeBuffer(&framed)
                stream.pending = pending
            }
        } else {
            stream.pending = framed
            streamsWithPending.append(stream)
        }
        flushSoon(context)
    }

    /// Writes each stream's pending messages as one DATA frame; called before every flush and before trailers.
    private func writePending(_ context: ChannelHandlerContext) {
        guard !streamsWithPending.isEmpty else { return }
        for stream in streamsWithPending { writePending(of: stream, context: context) }
        streamsWithPending.removeAll(keepingCapacity: true)
    }

    private func writePending(of stream: Stream, context: ChannelHandlerContext) {
        guard let data = stream.pending else { return }
        stream.pending = nil
        // A stream reset by the client meanwhile has nobody to read it.
        guard streams[stream.call.streamID] === stream else { return }
        writeData(data, on: stream, context: context)
    }

    private func writeData(_ data: ByteBuffer, on stream: Stream, context: ChannelHandlerContext) {
        let frame = HTTP2Frame(streamID: stream.call.streamID, payload: .data(.init(data: .byteBuffer(data))))
        guard case .streaming = stream.method else {
            context.write(wrapOutboundOut(frame), promise: nil)
            return
        }
        let bytes = data.readableBytes
        queuedBytes += bytes
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenComplete { [weak self] _ in
            guard let self else { return }
            let wasFull = self.queuedBytes >= Self.maxQueuedBytes
            self.queuedBytes -= bytes
            if wasFull, self.queuedBytes < Self.maxQueuedBytes / 2, let context = self.context, context.channel.isWritable {
                self.wakeBlockedStreams()
            }
        }
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    private func wakeBlockedStreams() {
        for stream in streams.values where stream.blocked && stream.outboundWindow > 0 {
            stream.blocked = false
            stream.receiver?.becameWritable()
        }
    }

    func finish(_ call: ServerCall, status: GRPCStatus) {
        guard !call.ended, let context else { return }
        call.ended = true
        guard let stream = streams[call.streamID] else { return }
        writePending(of: stream, context: context)
        streams[call.streamID] = nil
        stream.deadline?.cancel()
        stream.deadline = nil
        if stream.headersSent {
            var trailers = HPACKHeaders()
            Self.addStatus(status, to: &trailers)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: call.streamID,
                                                     payload: .headers(.init(headers: trailers, endStream: true)))),
                          promise: nil)
            flushSoon(context)
        } else {
            writeTrailersOnly(call.streamID, status: status)
        }
        if !stream.requestsEnded {
            // The client may still be sending; it has its answer, so stop the stream (as gRPC servers do).
            context.write(wrapOutboundOut(HTTP2Frame(streamID: call.streamID, payload: .rstStream(.noError))), promise: nil)
        }
        stream.receiver = nil
    }

    /// False while the client's window for the call is closed, the socket's send buffer is full or too much is
    /// queued for the connection (`maxQueuedBytes`); the call's
    /// receiver then hears `becameWritable` once both open again.
    func isWritable(_ call: ServerCall) -> Bool {
        guard !call.ended, let stream = streams[call.streamID], let context else { return false }
        let writable = stream.outboundWindow > 0 && context.channel.isWritable && queuedBytes < Self.maxQueuedBytes
        if !writable { stream.blocked = true }
        return writable
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, queuedBytes < Self.maxQueuedBytes { wakeBlockedStreams() }
        context.fireChannelWritabilityChanged()
    }

    private func writeResponseHeadersIfNeeded(_ stream: Stream, context: ChannelHandlerContext) {
        guard !stream.headersSent else { return }
        stream.headersSent = true
        let headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream.call.streamID, payload: .headers(.init(headers: headers)))),
                      promise: nil)
    }

    private func writeTrailersOnly(_ streamID: HTTP2StreamID, status: GRPCStatus) {
        guard let context else { return }
        var headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        Self.addStatus(status, to: &headers)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers, endStream: true)))),
                      promise: nil)
        flushSoon(context)
    }

    private static func addStatus(_ status: GRPCStatus, to headers: inout HPACKHeaders) {
        headers.add(name: "grpc-status", value: String(status.code.rawValue))
        if !status.message.isEmpty { headers.add(name: "grpc-message", value: status.encodedMessage) }
    }

    /// Coalesces flushes: inside a read burst the read-complete flushes; otherwise one flush is queued behind
    /// whatever other responses are already queued for this event loop.
    private func flushSoon(_ context: ChannelHandlerContext) {
        guard !inRead, !flushPending else { return }
        flushPending = true
        context.eventLoop.assumeIsolated().execute { [weak self] in
            guard let self, self.flushPending else { return }
            self.flushPending = false
            guard let context = self.context else { return }
            self.writePending(context)
            context.flush()
        }
    }

    // MARK: inbound flow control

    private func creditConnection(_ bytes: Int, context: ChannelHandlerContext) {
        connectionConsumed += bytes
        if connectionConsumed >= limits.windowBytes / 2 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream,
                                                     payload: .windowUpdate(windowSizeIncrement: connectionConsumed))),
                          promise: nil)
            connectionConsumed = 0
        }
    }

    private func creditStream(_ streamID: HTTP2StreamID, _ stream: Stream, _ bytes: Int, context: ChannelHandlerContext) {
        stream.consumedSinceUpdate += bytes
        // Our advertised initial stream window is `windowBytes`; top it up at half.
        if stream.consumedSinceUpdate >= limits.windowBytes / 2, !stream.requestsEnded {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID,
                                                     payload: .windowUpdate(windowSizeIncrement: stream.consumedSinceUpdate))),
                          promise: nil)
            stream.consumedSinceUpdate = 0
        }
    }
}
