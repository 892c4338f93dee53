import NIOCore
import NIOHPACK

/// Serves every gRPC call of one HTTP/2 connection, speaking HTTP/2 itself on the connection's bytes: frames are
/// parsed in place and every frame sent between two flushes goes out in one buffer, one socket write. A
/// general HTTP/2 stack (a frame state machine, an enum per frame, a write per frame) cost more than the rest
/// of a put together (see docs/benchmarks.md); gRPC needs only a small part of HTTP/2, which is all this does:
/// streams opened by the client, HPACK-decoded request headers, flow control both ways, SETTINGS, PING,
/// RST_STREAM and GOAWAY.
final class GRPCConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    struct Limits {
        var maxMessageBytes: Int
        /// Inbound window per stream and for the connection, advertised up front and topped up as data arrives.
        var windowBytes: Int
        var maxConcurrentStreams: Int
        /// The largest frame we accept (SETTINGS_MAX_FRAME_SIZE).
        var maxFrameBytes: Int
        /// The largest decoded request header list (SETTINGS_MAX_HEADER_LIST_SIZE).
        var maxHeaderListBytes: Int
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
        /// The client's window for this stream: how many DATA bytes we may still send on it.
        var window: Int
        /// A sender was told the stream is not writable and waits for `becameWritable`.
        var blocked = false
        /// Framed messages sent since the last flush, written as one run of DATA when the connection flushes.
        var pending: ByteBuffer?
        /// DATA bytes waiting for the client to open a window (the stream's or the connection's).
        var unsent: ByteBuffer?
        /// The trailers of a finished call, waiting behind `unsent`.
        var trailers: ByteBuffer?

        init(call: ServerCall, method: GRPCMethod, maxMessageBytes: Int, window: Int) {
            self.call = call
            self.method = method
            reader = MessageReader(maxMessageBytes: maxMessageBytes)
            self.window = window
        }
    }

    /// Most bytes of messages gathered for one stream between flushes before they are written out.
    static let batchBytes = 64 << 10
    /// DATA payloads at least this large are handed to the socket as they are, not copied into the output.
    static let copyLimit = 8 << 10

    private let router: GRPCRouter
    private let limits: Limits
    private var reader: HTTP2FrameReader
    private var decoder: HPACKDecoder
    private var streams: [UInt32: Stream] = [:]
    private var context: ChannelHandlerContext?
    private let output: HTTP2Output
    private var highestStreamID: UInt32 = 0
    /// A header block spread over HEADERS and CONTINUATION frames: its stream, bytes so far, END_STREAM.
    private var headerBlock: (streamID: UInt32, fragment: ByteBuffer, endStream: Bool)?
    private var connectionConsumed = 0
    /// The client's window for the whole connection.
    private var connectionWindow = HTTP2.defaultWindow
    private var peerInitialWindow = HTTP2.defaultWindow
    private var peerMaxFrameSize = HTTP2.defaultMaxFrameSize
    private var closing = false
    /// Streams whose `pending` messages still have to be written.
    private var streamsWithPending: [Stream] = []
    /// Streams with `unsent` bytes, in the order they started waiting.
    private var streamsWaiting: [Stream] = []

    init(router: GRPCRouter, limits: Limits, allocator: ByteBufferAllocator) {
        self.router = router
        self.limits = limits
        reader = HTTP2FrameReader(maxFrameSize: limits.maxFrameBytes)
        decoder = HPACKDecoder(allocator: allocator, maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize,
                               maxHeaderListSize: limits.maxHeaderListBytes)
        output = HTTP2Output(allocator: allocator)
    }

    /// What the connection holds for its client, for the bounds' tests: open streams, streams whose data waits
    /// for the client's window.
    var openStreamCount: Int { streams.count }
    var waitingStreamCount: Int { streamsWaiting.count }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The context holds this handler: keeping it past removal would keep the pair, and the whole pipeline
        // with its buffers, alive after the connection closed.
        self.context = nil
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
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        output.readStarted()
        reader.append(unwrapInboundIn(data))
        do {
            while let frame = try reader.next() {
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

    func channelInactive(context: ChannelHandlerContext) {
        let open = streams.values
        streams = [:]
        streamsWaiting = []
        streamsWithPending = []
        for stream in open { cancel(stream) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { wakeBlockedStreams() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: frames in

    private func handle(_ frame: HTTP2.Frame, context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
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
            if let stream = streams.removeValue(forKey: frame.streamID) { cancel(stream) }
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

    private func receivedData(_ frame: HTTP2.Frame, context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
        guard frame.streamID != 0 else { throw HTTP2.ConnectionError(.protocolError, "DATA on stream 0") }
        let flowControlled = frame.payload.readableBytes
        creditConnection(flowControlled)
        guard let stream = streams[frame.streamID], !stream.call.ended, !stream.requestsEnded else {
            if frame.streamID > highestStreamID {
                throw HTTP2.ConnectionError(.protocolError, "DATA on stream \(frame.streamID), which was never opened")
            }
            return  // A stream that ended meanwhile: its data has nobody to go to.
        }
        let data = try HTTP2.unpadded(frame)
        creditStream(frame.streamID, stream, flowControlled)
        received(data, on: stream)
        if frame.has(HTTP2.Flags.endStream), streams[frame.streamID] === stream { endRequests(stream) }
    }

    private func receivedHeaders(_ frame: HTTP2.Frame, context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
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

    private func receivedHeaderBlock(_ streamID: UInt32, _ block: ByteBuffer, endStream: Bool,
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
            if endStream { endRequests(stream) }
            return
        }
        guard streamID > highestStreamID else { return }  // A stream that is closed already.
        guard streamID % 2 == 1 else { throw HTTP2.ConnectionError(.protocolError, "a client opened the even stream \(streamID)") }
        highestStreamID = streamID
        guard streams.count < limits.maxConcurrentStreams else {
            writeResetStream(streamID, .refusedStream)
            return
        }
        open(streamID, headers: headers, endStream: endStream, context: context)
    }

    private func receivedSettings(_ frame: HTTP2.Frame) throws(HTTP2.ConnectionError) {
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
    }

    private func receivedWindowUpdate(_ frame: HTTP2.Frame, context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
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
        flushSoon(context)
    }

    // MARK: calls

    private func open(_ streamID: UInt32, headers: HPACKHeaders, endStream: Bool, context: ChannelHandlerContext) {
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
        let stream = Stream(call: call, method: method, maxMessageBytes: limits.maxMessageBytes, window: peerInitialWindow)
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
            reject(stream, GRPCStatus(.resourceExhausted,
                                      "grpc: received message larger than max (\(length) vs. \(limits.maxMessageBytes))"))
            return
        } catch {
            reject(stream, GRPCStatus(.internal, "grpc: compressed message received but no compression was negotiated"))
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
            reject(stream, GRPCStatus(.internal, "grpc: the request ended inside a message"))
            return
        }
        switch stream.method {
        case .unary(let handle):
            guard stream.unaryRequestCount == 1, let request = stream.unaryRequest else {
                finish(stream.call, status: GRPCStatus(.unimplemented,
                                                       "grpc: a unary call needs exactly one request message, got \(stream.unaryRequestCount)"))
                return
            }
            stream.unaryRequest = nil
            handle(request, stream.call)
        case .streaming:
            stream.receiver?.requestsEnded()
        }
    }

    /// The call's deadline passed. A response still waiting for the client's window is dropped with the
    /// stream: the client has given up on it, and keeping it would let a client that never opens its window
    /// hold every response it asked for.
    private func expire(_ streamID: UInt32) {
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
    private func reject(_ stream: Stream, _ status: GRPCStatus) {
        let receiver = stream.receiver
        finish(stream.call, status: status)
        receiver?.cancelled()
    }

    /// Ends the stream with RST_STREAM, dropping whatever it still had to send.
    private func reset(_ stream: Stream, _ code: HTTP2.ErrorCode) {
        guard streams[stream.call.streamID] === stream else { return }
        streams[stream.call.streamID] = nil
        cancel(stream)
        writeResetStream(stream.call.streamID, code)
        if let context { flushSoon(context) }
    }

    /// Forgets a stream removed from `streams`: its receiver hears `cancelled` unless the call had ended.
    private func cancel(_ stream: Stream) {
        stream.call.ended = true
        stream.pending = nil
        if stream.unsent != nil {
            stream.unsent = nil
            streamsWaiting.removeAll { $0 === stream }
        }
        stream.trailers = nil
        stream.deadline?.cancel()
        stream.deadline = nil
        stream.receiver?.cancelled()
        stream.receiver = nil
    }

    // MARK: sending (on the event loop, via ServerCall)

    func send(_ message: ByteBuffer, on call: ServerCall) {
        guard !call.ended, let context else { return }
        sendFramed(GRPCFraming.frame(message, allocator: context.channel.allocator), on: call)
    }

    func sendFramed(_ messages: ByteBuffer, on call: ServerCall) {
        guard !call.ended, let context, let stream = streams[call.streamID] else { return }
        if !stream.headersSent {
            stream.headersSent = true
            writeHeaders(call.streamID, GRPCHeaderBlock.responseHeaders, endStream: false)
        }
        var framed = messages
        // Messages sent before the next flush share one run of DATA: a watch stream delivering to a hundred
        // watchers costs one frame, not a hundred, on the wire and in the client.
        if var pending = stream.pending {
            stream.pending = nil
            if pending.readableBytes + framed.readableBytes > Self.batchBytes {
                // Full: out it goes, and this message starts the next batch.
                writeData(pending, on: stream)
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

    func finish(_ call: ServerCall, status: GRPCStatus) {
        guard !call.ended, let context else { return }
        call.ended = true
        guard let stream = streams[call.streamID] else { return }
        writePending(of: stream)
        stream.receiver = nil
        var trailers = context.channel.allocator.buffer(capacity: 64)
        GRPCHeaderBlock.trailers(status, trailersOnly: !stream.headersSent, to: &trailers)
        if stream.unsent == nil {
            close(stream, trailers: trailers)
        } else {
            // The deadline stays armed: past it, what still waits for the client's window is dropped.
            stream.trailers = trailers
        }
        flushSoon(context)
    }

    /// False while the client's windows for the call are closed or the socket's send buffer is full; the call's
    /// receiver then hears `becameWritable` once they open again.
    func isWritable(_ call: ServerCall) -> Bool {
        guard !call.ended, let stream = streams[call.streamID], let context else { return false }
        let writable = stream.window > (stream.pending?.readableBytes ?? 0) && stream.unsent == nil && connectionWindow > 0
            && context.channel.isWritable
        if !writable { stream.blocked = true }
        return writable
    }

    private func wakeBlockedStreams() {
        guard let context, context.channel.isWritable, connectionWindow > 0 else { return }
        for stream in streams.values where stream.blocked && stream.window > 0 && stream.unsent == nil {
            stream.blocked = false
            stream.receiver?.becameWritable()
        }
    }

    // MARK: frames out

    /// Writes what is pending, then hands everything written since the last flush to the socket at once.
    private func flushOutput(_ context: ChannelHandlerContext) {
        if !streamsWithPending.isEmpty {
            for stream in streamsWithPending { writePending(of: stream) }
            streamsWithPending.removeAll(keepingCapacity: true)
        }
        output.flush(context)
    }

    /// Coalesces flushes: inside a read burst the read-complete flushes; otherwise one flush is queued behind
    /// whatever other responses are already queued for this event loop.
    private func flushSoon(_ context: ChannelHandlerContext) {
        guard output.needsScheduledFlush() else { return }
        context.eventLoop.assumeIsolated().execute { [weak self] in
            guard let self, self.output.takeScheduledFlush(), let context = self.context else { return }
            self.flushOutput(context)
        }
    }

    private func writePending(of stream: Stream) {
        guard let data = stream.pending else { return }
        stream.pending = nil
        // A stream reset by the client meanwhile has nobody to read it.
        guard streams[stream.call.streamID] === stream else { return }
        writeData(data, on: stream)
    }

    /// Sends what the windows allow now; the rest waits in `unsent`, behind which nothing else of the stream
    /// may pass.
    private func writeData(_ data: ByteBuffer, on stream: Stream) {
        if stream.unsent != nil {
            var data = data
            stream.unsent!.writeBuffer(&data)  // Safe to force: just checked.
            return
        }
        var data = data
        sendAllowed(&data, on: stream)
        if data.readableBytes > 0 {
            stream.unsent = data
            streamsWaiting.append(stream)
        }
    }

    /// Writes DATA frames from `data` while the stream's and the connection's windows allow.
    private func sendAllowed(_ data: inout ByteBuffer, on stream: Stream) {
        while data.readableBytes > 0 {
            let length = min(data.readableBytes, peerMaxFrameSize, connectionWindow, stream.window)
            guard length > 0 else { return }
            HTTP2.writeFrameHeader(.data, length: length, streamID: stream.call.streamID, to: &output.frames)
            // Safe to force: `length` is at most the readable bytes.
            let payload = data.readSlice(length: length)!
            if length >= Self.copyLimit, let context {
                output.handOver(context)
                context.write(wrapOutboundOut(payload), promise: nil)
            } else {
                output.frames.writeImmutableBuffer(payload)
            }
            connectionWindow -= length
            stream.window -= length
        }
    }

    /// Retries the streams waiting for a window, in order; a finished stream whose data is all out gets its
    /// trailers.
    private func sendWaiting() {
        guard !streamsWaiting.isEmpty else { return }
        var stillWaiting: [Stream] = []
        for stream in streamsWaiting {
            guard streams[stream.call.streamID] === stream, var data = stream.unsent else { continue }
            stream.unsent = nil
            sendAllowed(&data, on: stream)
            if data.readableBytes > 0 {
                stream.unsent = data
                stillWaiting.append(stream)
            } else if let trailers = stream.trailers {
                stream.trailers = nil
                close(stream, trailers: trailers)
            }
        }
        streamsWaiting = stillWaiting
    }

    /// Ends the stream with `trailers`; a client still sending is told to stop (as gRPC servers do).
    private func close(_ stream: Stream, trailers: ByteBuffer) {
        streams[stream.call.streamID] = nil
        stream.deadline?.cancel()
        stream.deadline = nil
        writeHeaders(stream.call.streamID, trailers.readableBytesView, endStream: true)
        if !stream.requestsEnded { writeResetStream(stream.call.streamID, .noError) }
    }

    private func writeTrailersOnly(_ streamID: UInt32, status: GRPCStatus, requestsEnded: Bool, context: ChannelHandlerContext) {
        var block = context.channel.allocator.buffer(capacity: 64)
        GRPCHeaderBlock.trailers(status, trailersOnly: true, to: &block)
        writeHeaders(streamID, block.readableBytesView, endStream: true)
        if !requestsEnded { writeResetStream(streamID, .noError) }
        flushSoon(context)
    }

    private func writeHeaders<Block: Collection>(_ streamID: UInt32, _ block: Block, endStream: Bool) where Block.Element == UInt8 {
        HTTP2.writeHeaderBlock(block, streamID: streamID, endStream: endStream, maxFrameSize: peerMaxFrameSize, to: &output.frames)
    }

    private func writeResetStream(_ streamID: UInt32, _ code: HTTP2.ErrorCode) {
        HTTP2.writeResetStream(streamID, code, to: &output.frames)
    }

    private func writeWindowUpdate(streamID: UInt32, increment: Int) {
        HTTP2.writeWindowUpdate(streamID: streamID, increment: increment, to: &output.frames)
    }

    /// Ends the connection over a protocol fault: GOAWAY naming the last stream we handled, then close.
    private func goAway(_ error: any Error, context: ChannelHandlerContext) {
        let fault = error as? HTTP2.ConnectionError ?? HTTP2.ConnectionError(.internalError, "\(error)")
        closing = true
        let debug = Array(fault.message.utf8.prefix(256))
        HTTP2.writeFrameHeader(.goAway, length: 8 + debug.count, streamID: 0, to: &output.frames)
        output.frames.writeMultipleIntegers(highestStreamID, fault.code.rawValue)
        output.frames.writeBytes(debug)
        flushOutput(context)
        context.close(promise: nil)
    }

    /// Whether the client never opened `streamID`: frames other than HEADERS on such a stream are a
    /// PROTOCOL_ERROR (RFC 9113 §5.1). Even IDs belong to the server, which opens none.
    private func isIdle(_ streamID: UInt32) -> Bool {
        streamID > highestStreamID || streamID % 2 == 0
    }

    // MARK: inbound flow control

    private func creditConnection(_ bytes: Int) {
        connectionConsumed += bytes
        if connectionConsumed >= limits.windowBytes / 2 {
            writeWindowUpdate(streamID: 0, increment: connectionConsumed)
            connectionConsumed = 0
        }
    }

    private func creditStream(_ streamID: UInt32, _ stream: Stream, _ bytes: Int) {
        stream.consumedSinceUpdate += bytes
        // Our advertised initial stream window is `windowBytes`; top it up at half.
        if stream.consumedSinceUpdate >= limits.windowBytes / 2, !stream.requestsEnded {
            writeWindowUpdate(streamID: streamID, increment: stream.consumedSinceUpdate)
            stream.consumedSinceUpdate = 0
        }
    }
}
