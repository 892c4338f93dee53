import NIOCore
import NIOHPACK

/// Serves every gRPC call of one HTTP/2 connection, speaking HTTP/2 itself on the connection's bytes: frames are
/// parsed in place and every frame sent between two flushes goes out in one buffer, one socket write. A
/// general HTTP/2 stack (a frame state machine, an enum per frame, a write per frame) cost more than the rest
/// of a put together (see docs/benchmarks.md); gRPC needs only a small part of HTTP/2, which is all this does:
/// streams opened by the client, HPACK-decoded request headers, flow control both ways, SETTINGS, PING,
/// RST_STREAM and GOAWAY.
///
/// Nothing a client sends makes the connection hold more than its limits: reading stops while the socket
/// does not take what we write (so replies to control frames cannot pile up), a call that cannot answer as fast
/// as its client asks stops taking requests (its window then closes), and responses waiting for the client's
/// windows are bounded per connection (new calls are refused beyond it). The requests side is in
/// `GRPCConnectionHandler+Requests.swift`, the responses side in `GRPCConnectionHandler+Responses.swift`.
final class GRPCConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    struct Limits {
        var maxMessageBytes: Int
        /// Inbound window per stream and for the connection, advertised up front and topped up as requests are
        /// taken by their calls.
        var windowBytes: Int
        var maxConcurrentStreams: Int
        /// The largest frame we accept (SETTINGS_MAX_FRAME_SIZE).
        var maxFrameBytes: Int
        /// The largest decoded request header list (SETTINGS_MAX_HEADER_LIST_SIZE).
        var maxHeaderListBytes: Int
        /// Response bytes of one streaming call waiting for its client's window beyond which the call is handed
        /// no more requests until they drain.
        var maxStreamBacklogBytes = 1 << 20
        /// Response bytes of the whole connection waiting for the client's windows beyond which new calls are
        /// refused (REFUSED_STREAM, which clients retry) and streaming calls get no more requests.
        var maxConnectionBacklogBytes = 64 << 20
        /// Request bytes all the connection's calls may hold in incomplete or not yet taken messages; the call
        /// whose data would pass it fails with RESOURCE_EXHAUSTED. (A call holds at most its stream's window.)
        var maxBufferedRequestBytes = 64 << 20
        /// How long a new connection may take to begin HTTP/2 (the preface and its first frame).
        var prefaceTimeout = TimeAmount.seconds(10)
        /// A connection with no call open that sends nothing for this long (up to twice as long) is closed with
        /// GOAWAY (NO_ERROR), which gRPC clients take as "connect again when needed".
        var idleTimeout = TimeAmount.minutes(5)
    }

    final class Stream {
        let call: ServerCall
        let method: GRPCMethod
        var reader: MessageReader
        /// How many of the connection's buffered request bytes are this stream's (its reader's, when counted).
        var bufferedBytes = 0
        var receiver: (any ServerCallReceiver)?
        var unaryRequest: ByteBuffer?
        var unaryRequestCount = 0
        var headersSent = false
        /// END_STREAM arrived and every message before it was taken.
        var requestsEnded = false
        /// END_STREAM arrived, behind messages that may still wait in `reader`.
        var endReceived = false
        var deadline: Scheduled<Void>?
        /// Our window for the stream: how many more DATA bytes the client may send on it.
        var inboundWindow: Int
        var consumedSinceUpdate = 0
        /// Flow-controlled bytes received whose messages still wait in `reader`: credited back once taken.
        var heldCredit = 0
        /// The receiver takes no requests for now (`ServerCall.pauseRequests`).
        var requestsPaused = false
        /// The client's window for this stream: how many DATA bytes we may still send on it.
        var window: Int
        /// A sender was told the stream is not writable and waits for `becameWritable`.
        var blocked = false
        /// Framed messages sent since the last flush, written as one run of DATA when the connection flushes.
        var pending: ByteBuffer?
        /// DATA bytes waiting for the client to open a window (the stream's or the connection's) or for the
        /// socket to take more.
        var unsent: ByteBuffer?
        /// The trailers of a finished call, waiting behind `unsent`.
        var trailers: ByteBuffer?

        init(call: ServerCall, method: GRPCMethod, maxMessageBytes: Int, window: Int, inboundWindow: Int) {
            self.call = call
            self.method = method
            reader = MessageReader(maxMessageBytes: maxMessageBytes)
            self.window = window
            self.inboundWindow = inboundWindow
        }

        var backlogBytes: Int { unsent?.readableBytes ?? 0 }
    }

    /// Most bytes of messages gathered for one stream between flushes before they are written out.
    static let batchBytes = 64 << 10
    /// DATA payloads at least this large are handed to the socket as they are, not copied into the output.
    static let copyLimit = 8 << 10
    /// Frames gathered beyond this are handed to the channel at once, so that its writability accounts for them.
    static let handOverBytes = 1 << 20

    let router: GRPCRouter
    let limits: Limits
    var reader: HTTP2FrameReader
    var decoder: HPACKDecoder
    var streams: [UInt32: Stream] = [:]
    var context: ChannelHandlerContext?
    let output: HTTP2Output
    var highestStreamID: UInt32 = 0
    /// A header block spread over HEADERS and CONTINUATION frames: its stream, bytes so far, END_STREAM.
    var headerBlock: (streamID: UInt32, fragment: ByteBuffer, endStream: Bool)?
    /// Our window for the whole connection: how many more DATA bytes the client may send.
    var inboundConnectionWindow: Int
    var connectionConsumed = 0
    /// Request bytes held in the readers of all streams (see `Limits.maxBufferedRequestBytes`).
    var bufferedRequestBytes = 0
    /// Streams whose reader holds messages their call did not take yet.
    var streamsHolding: [Stream] = []
    /// Unary calls reset by the client while their handler still worked on them: they count against the
    /// stream limit until the handler answers, so opening and resetting calls in a loop cannot start unbounded
    /// work (the "rapid reset" attack).
    var abandonedCalls = 0
    /// The client's window for the whole connection.
    var connectionWindow = HTTP2.defaultWindow
    var peerInitialWindow = HTTP2.defaultWindow
    var peerMaxFrameSize = HTTP2.defaultMaxFrameSize
    var closing = false
    /// A read was asked for while the socket did not take our writes: it is passed on once it does.
    var readHeld = false
    /// Streams whose `pending` messages still have to be written.
    var streamsWithPending: [Stream] = []
    /// Streams with `unsent` bytes, in the order they started waiting.
    var streamsWaiting: [Stream] = []
    /// The bytes of all streams' `unsent`.
    var backlogBytes = 0
    /// The bytes of all streams' `pending` (answers gathered since the last flush).
    var pendingBytes = 0
    /// Closes the connection if the client has not begun HTTP/2 in time; cancelled at its first frame.
    var prefaceDeadline: Scheduled<Void>?
    /// Checks every `idleTimeout` whether the connection was idle since the last check.
    var idleCheck: RepeatedTask?
    var readSinceIdleCheck = false

    init(router: GRPCRouter, limits: Limits, allocator: ByteBufferAllocator) {
        self.router = router
        self.limits = limits
        reader = HTTP2FrameReader(maxFrameSize: limits.maxFrameBytes)
        decoder = HPACKDecoder(allocator: allocator, maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize,
                               maxHeaderListSize: limits.maxHeaderListBytes)
        output = HTTP2Output(allocator: allocator)
        inboundConnectionWindow = max(limits.windowBytes, HTTP2.defaultWindow)
    }

    /// What the connection holds for its client, for the bounds' tests: open streams, streams whose data waits
    /// for the client's window, response bytes waiting, request bytes buffered.
    var openStreamCount: Int { streams.count }
    var waitingStreamCount: Int { streamsWaiting.count }
    var waitingResponseBytes: Int { backlogBytes }
    var bufferedRequestByteCount: Int { bufferedRequestBytes }
    var isReadHeld: Bool { readHeld }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The context holds this handler: keeping it past removal would keep the pair, and the whole pipeline
        // with its buffers, alive after the connection closed.
        self.context = nil
        prefaceDeadline?.cancel()
        idleCheck?.cancel()
    }

    func channelActive(context: ChannelHandlerContext) {
        // The server's preface: our SETTINGS, then the connection window raised from HTTP/2's 64 KiB so large
        // requests need not wait for round trips.
        let settings: [(HTTP2.Setting, Int)] = [
            (.maxConcurrentStreams, limits.maxConcurrentStreams), (.initialWindowSize, limits.windowBytes),
            (.maxFrameSize, limits.maxFrameBytes), (.maxHeaderListSize, limits.maxHeaderListBytes),
        ]
        output.writeSettings(settings, connectionWindow: limits.windowBytes)
        flushOutput(context)
        let channel = context.channel
        prefaceDeadline = context.eventLoop.scheduleTask(in: limits.prefaceTimeout) { channel.close(promise: nil) }
        // Cancelled when the connection closes or the handler is removed, so holding the handler is fine.
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: limits.idleTimeout, delay: limits.idleTimeout) { _ in
            handler.value.checkIdle()
        }
        context.fireChannelActive()
    }

    /// Closes a connection that had no call open and sent nothing since the last check.
    private func checkIdle() {
        defer { readSinceIdleCheck = false }
        guard streams.isEmpty, !readSinceIdleCheck, !closing, let context else { return }
        goAway(HTTP2.ConnectionError(.noError, "idle for \(limits.idleTimeout)"), context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        readSinceIdleCheck = true
        output.readStarted()
        reader.append(unwrapInboundIn(data))
        do {
            while let frame = try reader.next() {
                if let deadline = prefaceDeadline {
                    deadline.cancel()
                    prefaceDeadline = nil
                }
                try handle(frame, context: context)
                if closing { return }
            }
        } catch {
            goAway(error, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        output.readCompleted()
        flushOutput(context)
        context.fireChannelReadComplete()
    }

    /// Reading waits while the socket does not take our writes: every frame read may call for a reply (a PING's,
    /// a SETTINGS' acknowledgement, a response), and a client that sends without reading would otherwise make
    /// them pile up without bound.
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            readHeld = true
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let open = streams.values
        streams = [:]
        streamsWaiting = []
        streamsWithPending = []
        streamsHolding = []
        for stream in open { cancel(stream) }
        pendingBytes = 0
        prefaceDeadline?.cancel()
        idleCheck?.cancel()
        backlogBytes = 0
        bufferedRequestBytes = 0
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            sendWaiting()
            wakeBlockedStreams()
            deliverHeld()
            flushSoon(context)
            if readHeld, context.channel.isWritable {
                readHeld = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: frames in

    func handle(_ frame: HTTP2.Frame, context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
        if let block = headerBlock, frame.type != HTTP2.FrameType.continuation.rawValue || frame.streamID != block.streamID {
            throw HTTP2.ConnectionError(.protocolError, "a header block was interrupted before END_HEADERS")
        }
        guard let type = HTTP2.FrameType(rawValue: frame.type) else { return }  // Unknown types are ignored.
        switch type {
        case .data: try receivedData(frame, context: context)
        case .headers: try receivedHeaders(frame, context: context)
        case .continuation:
            guard var block = headerBlock else {
                throw HTTP2.ConnectionError(.protocolError, "CONTINUATION without a header block")
            }
            headerBlock = nil
            // Bounded before it is gathered: a block continued without end would otherwise grow until memory
            // runs out (the "CONTINUATION flood"). A block is never larger encoded than the header list it
            // decodes to, so a block over the list limit cannot be a request we would take.
            guard block.fragment.readableBytes + frame.payload.readableBytes <= limits.maxHeaderListBytes else {
                throw HTTP2.ConnectionError(.enhanceYourCalm, "a header block exceeds \(limits.maxHeaderListBytes) bytes")
            }
            var fragment = frame.payload
            block.fragment.writeBuffer(&fragment)
            if frame.has(HTTP2.Flags.endHeaders) {
                try receivedHeaderBlock(block.streamID, block.fragment, endStream: block.endStream, context: context)
            } else {
                headerBlock = block
            }
        case .priority: break
        case .rstStream:
            guard frame.streamID != 0, frame.payload.readableBytes == 4 else {
                throw HTTP2.ConnectionError(.protocolError, "malformed RST_STREAM")
            }
            guard !isIdle(frame.streamID) else {
                throw HTTP2.ConnectionError(.protocolError, "RST_STREAM on stream \(frame.streamID), which was never opened")
            }
            if let stream = streams.removeValue(forKey: frame.streamID) {
                if case .unary = stream.method, stream.requestsEnded, !stream.call.ended {
                    stream.call.abandoned = true
                    abandonedCalls += 1
                }
                cancel(stream)
            }
        case .settings: try receivedSettings(frame)
        case .pushPromise: throw HTTP2.ConnectionError(.protocolError, "a client cannot push")
        case .ping:
            guard frame.streamID == 0, frame.payload.readableBytes == 8 else {
                throw HTTP2.ConnectionError(.protocolError, "malformed PING")
            }
            if !frame.has(HTTP2.Flags.ack) {
                HTTP2.writeFrameHeader(.ping, length: 8, flags: HTTP2.Flags.ack, streamID: 0, to: &output.frames)
                output.frames.writeImmutableBuffer(frame.payload)
                flushSoon(context)
            }
        case .goAway: break  // The client opens no more streams; the open ones finish as usual.
        case .windowUpdate: try receivedWindowUpdate(frame, context: context)
        }
    }

    func receivedHeaders(_ frame: HTTP2.Frame, context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
        guard frame.streamID != 0 else { throw HTTP2.ConnectionError(.protocolError, "HEADERS on stream 0") }
        var fragment = try HTTP2.unpadded(frame)
        if frame.has(HTTP2.Flags.priority) {
            guard fragment.readableBytes >= 5 else { throw HTTP2.ConnectionError(.frameSizeError, "HEADERS too short for its priority") }
            fragment.moveReaderIndex(forwardBy: 5)
        }
        let endStream = frame.has(HTTP2.Flags.endStream)
        if frame.has(HTTP2.Flags.endHeaders) {
            try receivedHeaderBlock(frame.streamID, fragment, endStream: endStream, context: context)
        } else {
            guard fragment.readableBytes <= limits.maxHeaderListBytes else {
                throw HTTP2.ConnectionError(.enhanceYourCalm, "a header block exceeds \(limits.maxHeaderListBytes) bytes")
            }
            var copy = context.channel.allocator.buffer(capacity: fragment.readableBytes * 2)
            copy.writeBuffer(&fragment)
            headerBlock = (frame.streamID, copy, endStream)
        }
    }

    func receivedHeaderBlock(_ streamID: UInt32, _ block: ByteBuffer, endStream: Bool,
                             context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
        // Every block is decoded, even one that is then ignored: it may change the HPACK table.
        var block = block
        let headers: HPACKHeaders
        do {
            headers = try decoder.decodeHeaders(from: &block)
        } catch {
            throw HTTP2.ConnectionError(.compressionError, "request headers could not be decoded: \(error)")
        }
        if let stream = streams[streamID] {
            // Trailers from the client: only END_STREAM matters.
            if endStream { receivedEnd(of: stream) }
            return
        }
        guard streamID > highestStreamID else { return }  // A stream that is closed already.
        guard streamID % 2 == 1 else { throw HTTP2.ConnectionError(.protocolError, "a client opened the even stream \(streamID)") }
        highestStreamID = streamID
        // Answers gathered in this read burst count too: a burst of calls answered at once would otherwise all
        // be taken before the first of their answers reached the backlog.
        guard streams.count + abandonedCalls < limits.maxConcurrentStreams,
              backlogBytes + pendingBytes <= limits.maxConnectionBacklogBytes else {
            writeResetStream(streamID, .refusedStream)
            return
        }
        open(streamID, headers: headers, endStream: endStream, context: context)
    }

    func receivedSettings(_ frame: HTTP2.Frame) throws(HTTP2.ConnectionError) {
        guard let change = try HTTP2.settings(frame) else { return }
        if let window = change.initialWindow {
            let delta = window - peerInitialWindow
            peerInitialWindow = window
            for stream in streams.values {
                stream.window += delta
                guard stream.window <= HTTP2.maxWindow else {
                    throw HTTP2.ConnectionError(.flowControlError, "SETTINGS_INITIAL_WINDOW_SIZE takes stream \(stream.call.streamID)'s window past 2^31-1")
                }
            }
        }
        if let size = change.maxFrameSize { peerMaxFrameSize = size }
        HTTP2.writeFrameHeader(.settings, length: 0, flags: HTTP2.Flags.ack, streamID: 0, to: &output.frames)
        // A larger window may free what waits, and lets blocked senders go on.
        sendWaiting()
        wakeBlockedStreams()
        deliverHeld()
    }

    func receivedWindowUpdate(_ frame: HTTP2.Frame, context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
        guard let raw = frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt32.self),
              frame.payload.readableBytes == 4 else {
            throw HTTP2.ConnectionError(.frameSizeError, "malformed WINDOW_UPDATE")
        }
        let increment = Int(raw & 0x7FFF_FFFF)
        if frame.streamID == 0 {
            guard increment > 0 else { throw HTTP2.ConnectionError(.protocolError, "WINDOW_UPDATE of 0") }
            connectionWindow += increment
            guard connectionWindow <= HTTP2.maxWindow else {
                throw HTTP2.ConnectionError(.flowControlError, "the connection window exceeds 2^31-1")
            }
            sendWaiting()
        } else if isIdle(frame.streamID) {
            throw HTTP2.ConnectionError(.protocolError, "WINDOW_UPDATE on stream \(frame.streamID), which was never opened")
        } else if let stream = streams[frame.streamID] {
            guard increment > 0, stream.window + increment <= HTTP2.maxWindow else {
                reset(stream, increment == 0 ? .protocolError : .flowControlError)
                return
            }
            stream.window += increment
            if stream.unsent != nil { sendWaiting() }
        }
        wakeBlockedStreams()
        deliverHeld()
        flushSoon(context)
    }

    /// Whether the client never opened `streamID`: frames other than HEADERS on such a stream are a
    /// PROTOCOL_ERROR (RFC 9113 §5.1). Even IDs belong to the server, which opens none.
    func isIdle(_ streamID: UInt32) -> Bool {
        streamID > highestStreamID || streamID % 2 == 0
    }

    // MARK: calls

    func open(_ streamID: UInt32, headers: HPACKHeaders, endStream: Bool, context: ChannelHandlerContext) {
        guard let path = headers.first(name: ":path"), let method = router.method(forPath: path) else {
            writeTrailersOnly(streamID, status: GRPCStatus(.unimplemented, "unknown method \(headers.first(name: ":path") ?? "")"),
                              requestsEnded: endStream, context: context)
            return
        }
        if let contentType = headers.first(name: "content-type"), !contentType.hasPrefix("application/grpc") {
            writeTrailersOnly(streamID, status: GRPCStatus(.internal, "unsupported content-type \(contentType)"),
                              requestsEnded: endStream, context: context)
            return
        }
        let call = ServerCall(eventLoop: context.eventLoop, allocator: context.channel.allocator, requestHeaders: headers,
                              streamID: streamID, connection: self)
        let stream = Stream(call: call, method: method, maxMessageBytes: limits.maxMessageBytes, window: peerInitialWindow,
                            inboundWindow: limits.windowBytes)
        streams[streamID] = stream
        if let timeout = headers.first(name: "grpc-timeout").flatMap(GRPCTimeout.parse) {
            stream.deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                self?.expire(streamID)
            }
        }
        if case .streaming(let start) = method { stream.receiver = start(call) }
        if endStream { receivedEnd(of: stream) }
    }

    /// The call's deadline passed. A response still waiting for the client's window is dropped with the
    /// stream: the client has given up on it, and keeping it would let a client that never opens its window
    /// hold every response it asked for.
    func expire(_ streamID: UInt32) {
        guard let stream = streams[streamID] else { return }
        stream.deadline = nil
        if stream.unsent != nil {
            reset(stream, .cancel)
        } else {
            reject(stream, GRPCStatus(.deadlineExceeded, "context deadline exceeded"))
        }
    }

    /// Ends a call that its receiver did not end (a fault in what the client sent, or its deadline): the
    /// receiver hears `cancelled`, so that what it holds for the call (a watch's store watchers) is released.
    func reject(_ stream: Stream, _ status: GRPCStatus) {
        let receiver = stream.receiver
        finish(stream.call, status: status)
        receiver?.cancelled()
    }

    /// Ends the stream with RST_STREAM, dropping whatever it still had to send.
    func reset(_ stream: Stream, _ code: HTTP2.ErrorCode) {
        guard streams[stream.call.streamID] === stream else { return }
        streams[stream.call.streamID] = nil
        cancel(stream)
        writeResetStream(stream.call.streamID, code)
        if let context { flushSoon(context) }
    }

    /// Forgets a stream removed from `streams`: its receiver hears `cancelled` unless the call had ended, and
    /// what it held is released.
    func cancel(_ stream: Stream) {
        stream.call.ended = true
        if let pending = stream.pending {
            stream.pending = nil
            pendingBytes -= pending.readableBytes
        }
        if let unsent = stream.unsent {
            stream.unsent = nil
            backlogBytes -= unsent.readableBytes
            streamsWaiting.removeAll { $0 === stream }
            // Less waits now: calls held back by the connection's backlog may take requests again. Not from
            // here, which may be inside a delivery or the connection's teardown.
            if !streamsHolding.isEmpty, let context {
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                context.eventLoop.execute { handler.value.deliverHeld() }
            }
        }
        stream.trailers = nil
        stream.deadline?.cancel()
        stream.deadline = nil
        releaseRequests(of: stream)
        stream.receiver?.cancelled()
        stream.receiver = nil
    }

    /// Ends the connection over a protocol fault: GOAWAY naming the last stream we handled, then close.
    func goAway(_ error: any Error, context: ChannelHandlerContext) {
        let fault = error as? HTTP2.ConnectionError ?? HTTP2.ConnectionError(.internalError, "\(error)")
        closing = true
        let debug = Array(fault.message.utf8.prefix(256))
        HTTP2.writeFrameHeader(.goAway, length: 8 + debug.count, streamID: 0, to: &output.frames)
        output.frames.writeMultipleIntegers(highestStreamID, fault.code.rawValue)
        output.frames.writeBytes(debug)
        flushOutput(context)
        context.close(promise: nil)
    }
}
