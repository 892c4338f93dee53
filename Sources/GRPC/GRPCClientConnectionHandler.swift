import NIOCore
import NIOHPACK

/// The client side of a gRPC connection, speaking HTTP/2 on the socket's bytes itself (`HTTP2Wire.swift`), like
/// the server's `GRPCConnectionHandler`: the load generator must cost less than the servers it measures, and a
/// general HTTP/2 state machine cost more than the calls themselves. Calls are streams routed by ID in this one
/// handler; everything runs on the connection's event loop.
final class GRPCClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    /// The receive window per stream and for the connection, returned once half of it is consumed.
    static let windowBytes = 8 << 20
    /// The largest frame we accept; the server's batches of small responses fit in one.
    static let maxFrameBytes = 1 << 20
    static let maxHeaderListBytes = 1 << 20

    let authority: String
    private let eventLoop: EventLoop
    private var context: ChannelHandlerContext?
    private var reader = HTTP2FrameReader(maxFrameSize: maxFrameBytes, expectsPreface: false)
    private var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize,
                                       maxHeaderListSize: maxHeaderListBytes)
    private var streams: [UInt32: GRPCClientStream] = [:]
    /// Calls waiting for the server's concurrency limit to let them open, in order.
    private var waitingToOpen: [GRPCClientStream] = []
    /// Streams with `unsent` bytes, waiting for a window.
    private var streamsWaiting: [GRPCClientStream] = []
    private var nextStreamID: UInt32 = 1
    private let output = HTTP2Output(allocator: ByteBufferAllocator())
    /// A header block spread over HEADERS and CONTINUATION frames.
    private var headerBlock: (streamID: UInt32, fragment: ByteBuffer, endStream: Bool)?
    private var connectionConsumed = 0
    /// The server's window for the whole connection.
    private var connectionWindow = HTTP2.defaultWindow
    private var peerInitialWindow = HTTP2.defaultWindow
    private var peerMaxFrameSize = HTTP2.defaultMaxFrameSize
    private var peerMaxConcurrentStreams = Int.max
    private var closed = false
    /// A read was asked for while the socket did not take our writes: passed on once it does.
    private var readHeld = false
    /// Why the connection ended, for the calls it fails.
    private var closeReason = "the connection closed"

    /// Calls whose request data waits for the server's window, for the bounds' tests.
    var waitingStreamCount: Int { streamsWaiting.count }

    init(authority: String, eventLoop: EventLoop) {
        self.authority = authority
        self.eventLoop = eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The context holds this handler: keeping it past removal would keep the pair, and the whole pipeline
        // with its buffers, alive after the connection closed.
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        // The client's preface, our SETTINGS, and the connection window raised from HTTP/2's 64 KiB.
        output.frames.writeBytes(HTTP2.clientPreface)
        let settings: [(HTTP2.Setting, Int)] = [
            (.enablePush, 0), (.initialWindowSize, Self.windowBytes), (.maxFrameSize, Self.maxFrameBytes),
            (.maxHeaderListSize, Self.maxHeaderListBytes),
        ]
        output.writeSettings(settings, connectionWindow: Self.windowBytes)
        output.flush(context)
        context.fireChannelActive()
    }

    // MARK: calls

    func open(path: String, timeout: TimeAmount?, onMessage: @escaping (ByteBuffer) -> Void,
              onClose: @escaping (GRPCStatus) -> Void) -> GRPCClientStream {
        let stream = GRPCClientStream(path: path, timeout: timeout, handler: self, onMessage: onMessage, onClose: onClose)
        if let timeout {
            // Besides the grpc-timeout it sends, the call gives up on its own a second after its timeout: a
            // server that never answers (paused, cut off, or holding the call behind a closed window) cannot
            // keep it, or what it holds, for ever.
            stream.deadline = eventLoop.assumeIsolated().scheduleTask(in: timeout + .seconds(1)) { [weak self, weak stream] in
                guard let self, let stream, !stream.closed else { return }
                self.cancel(stream, status: GRPCStatus(.deadlineExceeded, "no answer within \(timeout)"))
            }
        }
        guard context != nil, !closed, nextStreamID < UInt32(Int32.max) - 2 else {
            // Fail from the event loop, not from inside the caller: a client that retries in its callback must
            // not recurse through every remaining request.
            stream.closed = true
            let status = GRPCStatus(.unavailable, closeReason)
            eventLoop.assumeIsolated().execute { onClose(status) }
            return stream
        }
        if streams.count < peerMaxConcurrentStreams {
            start(stream)
        } else {
            waitingToOpen.append(stream)
        }
        return stream
    }

    /// Gives the call its stream ID (IDs must open in increasing order, so only now) and sends its headers.
    private func start(_ stream: GRPCClientStream) {
        stream.streamID = nextStreamID
        nextStreamID += 2
        stream.window = peerInitialWindow
        streams[stream.streamID] = stream
        var block = ByteBufferAllocator().buffer(capacity: 128)
        GRPCHeaderBlock.request(path: stream.path, authority: authority,
                                timeout: stream.timeout.map(GRPCTimeout.encode), to: &block)
        writeHeaders(stream.streamID, block.readableBytesView, endStream: false)
        if let queued = stream.unsent {
            stream.unsent = nil
            writeData(queued, on: stream)
        }
        if let context { flushSoon(context) }
    }

    func send(_ message: ByteBuffer, on stream: GRPCClientStream, endStream: Bool) {
        guard let context else { return }
        let framed = GRPCFraming.frame(message, allocator: context.channel.allocator)
        if endStream { stream.endStreamQueued = true }
        if stream.streamID == 0 {
            // Not opened yet: keep the bytes until it is.
            var framed = framed
            if stream.unsent == nil { stream.unsent = framed } else { stream.unsent!.writeBuffer(&framed) }  // Safe: just checked.
            return
        }
        writeData(framed, on: stream)
        flushSoon(context)
    }

    /// END_STREAM on an empty DATA frame, behind whatever of the call is still to be sent.
    func halfClose(_ stream: GRPCClientStream) {
        guard let context else { return }
        stream.endStreamQueued = true
        let nothing = context.channel.allocator.buffer(capacity: 0)
        if stream.streamID == 0 {
            if stream.unsent == nil { stream.unsent = nothing }
            return
        }
        writeData(nothing, on: stream)
        flushSoon(context)
    }

    func cancel(_ stream: GRPCClientStream, status: GRPCStatus) {
        if stream.streamID == 0 {
            waitingToOpen.removeAll { $0 === stream }
            stream.closed = true
            stream.deadline?.cancel()
            stream.onClose(status)
            return
        }
        if let context, streams[stream.streamID] != nil {
            writeResetStream(stream.streamID, .cancel)
            flushSoon(context)
        }
        finish(stream.streamID, status)
    }

    // MARK: frames in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed || !streams.isEmpty else { return }
        output.readStarted()
        reader.append(unwrapInboundIn(data))
        do {
            while let frame = try reader.next() { try handle(frame, context: context) }
        } catch {
            fail(error, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        output.readCompleted()
        output.flush(context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let pending = Array(streams.values) + waitingToOpen
        streams = [:]
        waitingToOpen = []
        streamsWaiting = []
        for stream in pending where !stream.closed {
            stream.closed = true
            stream.deadline?.cancel()
            stream.onClose(GRPCStatus(.unavailable, closeReason))
        }
        context.fireChannelInactive()
    }

    /// Reading waits while the socket does not take our writes: the server's PINGs and SETTINGS each call for
    /// a reply, which would otherwise pile up for a server that sends without reading.
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            readHeld = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, readHeld {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        closeReason = "the connection failed: \(error)"
        context.close(promise: nil)
    }

    private func handle(_ frame: HTTP2.Frame, context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
        if let block = headerBlock, frame.type != HTTP2.FrameType.continuation.rawValue || frame.streamID != block.streamID {
            throw HTTP2.ConnectionError(.protocolError, "a header block was interrupted before END_HEADERS")
        }
        guard let type = HTTP2.FrameType(rawValue: frame.type) else { return }  // Unknown types are ignored.
        switch type {
        case .data: try receivedData(frame)
        case .headers:
            var fragment = try HTTP2.unpadded(frame)
            if frame.has(HTTP2.Flags.priority) {
                guard fragment.readableBytes >= 5 else { throw HTTP2.ConnectionError(.frameSizeError, "HEADERS too short for its priority") }
                fragment.moveReaderIndex(forwardBy: 5)
            }
            if frame.has(HTTP2.Flags.endHeaders) {
                try receivedHeaderBlock(frame.streamID, fragment, endStream: frame.has(HTTP2.Flags.endStream))
            } else {
                guard fragment.readableBytes <= Self.maxHeaderListBytes else {
                    throw HTTP2.ConnectionError(.enhanceYourCalm, "a header block exceeds \(Self.maxHeaderListBytes) bytes")
                }
                var copy = context.channel.allocator.buffer(capacity: fragment.readableBytes * 2)
                copy.writeBuffer(&fragment)
                headerBlock = (frame.streamID, copy, frame.has(HTTP2.Flags.endStream))
            }
        case .continuation:
            guard var block = headerBlock else { throw HTTP2.ConnectionError(.protocolError, "CONTINUATION without a header block") }
            headerBlock = nil
            // Bounded before it is gathered (see the server's handler): a block never decodes to less.
            guard block.fragment.readableBytes + frame.payload.readableBytes <= Self.maxHeaderListBytes else {
                throw HTTP2.ConnectionError(.enhanceYourCalm, "a header block exceeds \(Self.maxHeaderListBytes) bytes")
            }
            var fragment = frame.payload
            block.fragment.writeBuffer(&fragment)
            if frame.has(HTTP2.Flags.endHeaders) {
                try receivedHeaderBlock(block.streamID, block.fragment, endStream: block.endStream)
            } else {
                headerBlock = block
            }
        case .priority: break
        case .rstStream:
            guard frame.streamID != 0, let code = frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt32.self),
                  frame.payload.readableBytes == 4 else {
                throw HTTP2.ConnectionError(.protocolError, "malformed RST_STREAM")
            }
            guard !isIdle(frame.streamID) else {
                throw HTTP2.ConnectionError(.protocolError, "RST_STREAM on stream \(frame.streamID), which was never opened")
            }
            let name = HTTP2.ErrorCode(rawValue: code).map { "\($0)" } ?? "code \(code)"
            finish(frame.streamID, GRPCStatus(.unavailable, "stream reset: \(name)"))
        case .settings: try receivedSettings(frame)
        case .pushPromise: throw HTTP2.ConnectionError(.protocolError, "push was disabled")
        case .ping:
            guard frame.streamID == 0, frame.payload.readableBytes == 8 else { throw HTTP2.ConnectionError(.protocolError, "malformed PING") }
            if !frame.has(HTTP2.Flags.ack) {
                HTTP2.writeFrameHeader(.ping, length: 8, flags: HTTP2.Flags.ack, streamID: 0, to: &output.frames)
                output.frames.writeImmutableBuffer(frame.payload)
            }
        case .goAway: receivedGoAway(frame)
        case .windowUpdate: try receivedWindowUpdate(frame)
        }
    }

    private func receivedData(_ frame: HTTP2.Frame) throws(HTTP2.ConnectionError) {
        guard frame.streamID != 0 else { throw HTTP2.ConnectionError(.protocolError, "DATA on stream 0") }
        guard !isIdle(frame.streamID) else {
            throw HTTP2.ConnectionError(.protocolError, "DATA on stream \(frame.streamID), which was never opened")
        }
        let flowControlled = frame.payload.readableBytes
        connectionConsumed += flowControlled
        if connectionConsumed >= Self.windowBytes / 2 {
            writeWindowUpdate(streamID: 0, increment: connectionConsumed)
            connectionConsumed = 0
        }
        guard let stream = streams[frame.streamID] else { return }  // Ended meanwhile (cancelled by us).
        let data = try HTTP2.unpadded(frame)
        stream.consumed += flowControlled
        if stream.consumed >= Self.windowBytes / 2, !frame.has(HTTP2.Flags.endStream) {
            writeWindowUpdate(streamID: frame.streamID, increment: stream.consumed)
            stream.consumed = 0
        }
        do {
            stream.reader.append(data)
            while !stream.closed, let message = try stream.reader.next() { stream.onMessage(message) }
        } catch {
            cancel(stream, status: GRPCStatus(.internal, "malformed response: \(error)"))
            return
        }
        if frame.has(HTTP2.Flags.endStream) {
            finish(frame.streamID, GRPCStatus(.internal, "the response ended without a grpc-status"))
        }
    }

    private func receivedHeaderBlock(_ streamID: UInt32, _ block: ByteBuffer, endStream: Bool) throws(HTTP2.ConnectionError) {
        // Every block is decoded, even one then ignored: it may change the HPACK table.
        var block = block
        let headers: HPACKHeaders
        do {
            headers = try decoder.decodeHeaders(from: &block)
        } catch {
            throw HTTP2.ConnectionError(.compressionError, "response headers could not be decoded: \(error)")
        }
        guard streams[streamID] != nil else { return }
        if let code = headers.first(name: "grpc-status").flatMap(Int.init) {
            let message = headers.first(name: "grpc-message").map { GRPCStatus.decodeMessage(Substring($0)) } ?? ""
            finish(streamID, GRPCStatus(GRPCStatus.Code(rawValue: code) ?? .unknown, message))
        } else if let status = headers.first(name: ":status"), status != "200" {
            finish(streamID, GRPCStatus(.unavailable, "HTTP status \(status)"))
        } else if endStream {
            finish(streamID, GRPCStatus(.internal, "the response ended without a grpc-status"))
        }
    }

    private func receivedSettings(_ frame: HTTP2.Frame) throws(HTTP2.ConnectionError) {
        guard let change = try HTTP2.settings(frame) else { return }
        if let window = change.initialWindow {
            let delta = window - peerInitialWindow
            peerInitialWindow = window
            for stream in streams.values where stream.streamID != 0 {
                stream.window += delta
                guard stream.window <= HTTP2.maxWindow else {
                    throw HTTP2.ConnectionError(.flowControlError, "SETTINGS_INITIAL_WINDOW_SIZE takes a stream's window past 2^31-1")
                }
            }
        }
        if let size = change.maxFrameSize { peerMaxFrameSize = size }
        if let limit = change.maxConcurrentStreams { peerMaxConcurrentStreams = limit }
        HTTP2.writeFrameHeader(.settings, length: 0, flags: HTTP2.Flags.ack, streamID: 0, to: &output.frames)
        sendWaiting()
        openWaiting()
    }

    private func receivedWindowUpdate(_ frame: HTTP2.Frame) throws(HTTP2.ConnectionError) {
        guard let raw = frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt32.self),
              frame.payload.readableBytes == 4 else {
            throw HTTP2.ConnectionError(.frameSizeError, "malformed WINDOW_UPDATE")
        }
        let increment = Int(raw & 0x7FFF_FFFF)
        if frame.streamID == 0 {
            guard increment > 0, connectionWindow + increment <= HTTP2.maxWindow else {
                throw HTTP2.ConnectionError(.flowControlError, "WINDOW_UPDATE of \(increment) on the connection")
            }
            connectionWindow += increment
        } else if isIdle(frame.streamID) {
            throw HTTP2.ConnectionError(.protocolError, "WINDOW_UPDATE on stream \(frame.streamID), which was never opened")
        } else if let stream = streams[frame.streamID] {
            guard increment > 0, stream.window + increment <= HTTP2.maxWindow else {
                writeResetStream(frame.streamID, .flowControlError)
                finish(frame.streamID, GRPCStatus(.internal, "the server sent a WINDOW_UPDATE of \(increment)"))
                return
            }
            stream.window += increment
        }
        sendWaiting()
    }

    private func receivedGoAway(_ frame: HTTP2.Frame) {
        var payload = frame.payload
        guard let (lastStreamID, code) = payload.readMultipleIntegers(as: (UInt32, UInt32).self) else { return }
        let detail = String(decoding: payload.readableBytesView.prefix(256), as: UTF8.self)
        let name = HTTP2.ErrorCode(rawValue: code).map { "\($0)" } ?? "code \(code)"
        closeReason = "the server closed the connection (GOAWAY \(name)\(detail.isEmpty ? "" : ": " + detail))"
        closed = true
        for streamID in streams.keys where streamID > lastStreamID & 0x7FFF_FFFF {
            finish(streamID, GRPCStatus(.unavailable, closeReason))
        }
        let waiting = waitingToOpen
        waitingToOpen = []
        for stream in waiting {
            stream.closed = true
            stream.deadline?.cancel()
            stream.onClose(GRPCStatus(.unavailable, closeReason))
        }
        closeIfDone()
    }

    /// After a GOAWAY, the connection closes once its last call ended: nothing else will use it.
    private func closeIfDone() {
        guard closed, streams.isEmpty, let context else { return }
        context.close(promise: nil)
    }

    /// Whether we never opened `streamID` (RFC 9113 §5.1): only our odd IDs below the next one were.
    private func isIdle(_ streamID: UInt32) -> Bool {
        streamID >= nextStreamID || streamID % 2 == 0
    }

    // MARK: sending

    /// Sends what the windows allow now; the rest waits in `unsent`, behind which nothing else of the stream
    /// may pass. END_STREAM goes with the last byte of a stream whose requests ended.
    private func writeData(_ data: ByteBuffer, on stream: GRPCClientStream) {
        var data = data
        if stream.unsent != nil {
            stream.unsent!.writeBuffer(&data)  // Safe to force: just checked.
            return
        }
        sendAllowed(&data, on: stream)
        if data.readableBytes > 0 {
            stream.unsent = data
            streamsWaiting.append(stream)
        }
    }

    private func sendAllowed(_ data: inout ByteBuffer, on stream: GRPCClientStream) {
        repeat {
            let length = min(data.readableBytes, peerMaxFrameSize, connectionWindow, stream.window)
            guard length > 0 || data.readableBytes == 0 else { return }
            let last = length == data.readableBytes
            let flags = last && stream.endStreamQueued ? HTTP2.Flags.endStream : 0
            HTTP2.writeFrameHeader(.data, length: length, flags: flags, streamID: stream.streamID, to: &output.frames)
            // Safe to force: `length` is at most the readable bytes.
            let payload = data.readSlice(length: length)!
            output.frames.writeImmutableBuffer(payload)
            connectionWindow -= length
            stream.window -= length
        } while data.readableBytes > 0
    }

    /// Retries the streams waiting for a window, in order.
    private func sendWaiting() {
        guard !streamsWaiting.isEmpty else { return }
        var stillWaiting: [GRPCClientStream] = []
        for stream in streamsWaiting {
            guard streams[stream.streamID] === stream, var data = stream.unsent else { continue }
            stream.unsent = nil
            sendAllowed(&data, on: stream)
            if data.readableBytes > 0 {
                stream.unsent = data
                stillWaiting.append(stream)
            }
        }
        streamsWaiting = stillWaiting
        if let context { flushSoon(context) }
    }

    /// Opens waiting calls while the server's concurrency limit allows.
    private func openWaiting() {
        while !waitingToOpen.isEmpty, streams.count < peerMaxConcurrentStreams, !closed {
            start(waitingToOpen.removeFirst())
        }
    }

    private func finish(_ streamID: UInt32, _ status: GRPCStatus) {
        guard let stream = streams.removeValue(forKey: streamID), !stream.closed else { return }
        stream.closed = true
        if stream.unsent != nil {
            stream.unsent = nil
            streamsWaiting.removeAll { $0 === stream }
        }
        stream.deadline?.cancel()
        stream.onClose(status)
        openWaiting()
        closeIfDone()
    }

    private func writeHeaders(_ streamID: UInt32, _ block: ByteBufferView, endStream: Bool) {
        HTTP2.writeHeaderBlock(block, streamID: streamID, endStream: endStream, maxFrameSize: peerMaxFrameSize, to: &output.frames)
    }

    private func writeResetStream(_ streamID: UInt32, _ code: HTTP2.ErrorCode) {
        HTTP2.writeResetStream(streamID, code, to: &output.frames)
    }

    private func writeWindowUpdate(streamID: UInt32, increment: Int) {
        HTTP2.writeWindowUpdate(streamID: streamID, increment: increment, to: &output.frames)
    }

    /// A protocol fault ends the connection: GOAWAY, then close (every call fails with the reason).
    private func fail(_ error: HTTP2.ConnectionError, context: ChannelHandlerContext) {
        closeReason = "the server broke HTTP/2: \(error.message)"
        closed = true
        let debug = Array(error.message.utf8.prefix(256))
        HTTP2.writeFrameHeader(.goAway, length: 8 + debug.count, streamID: 0, to: &output.frames)
        output.frames.writeMultipleIntegers(UInt32(0), error.code.rawValue)
        output.frames.writeBytes(debug)
        output.flush(context)
        context.close(promise: nil)
    }

    /// Coalesces flushes: inside a read burst the read-complete flushes; otherwise one flush is queued behind
    /// whatever other calls are already queued for this event loop.
    private func flushSoon(_ context: ChannelHandlerContext) {
        guard output.needsScheduledFlush() else { return }
        context.eventLoop.assumeIsolated().execute { [weak self] in
            guard let self, self.output.takeScheduledFlush(), let context = self.context else { return }
            self.output.flush(context)
        }
    }
}
