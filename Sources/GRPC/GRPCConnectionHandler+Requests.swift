import NIOCore

/// The requests side: DATA into each call's messages, handed to the call only while it keeps up, and the
/// windows we give the client credited back only for what calls took. A client that sends faster than a call
/// answers fills its window and waits, rather than filling our memory.
extension GRPCConnectionHandler {
    func receivedData(_ frame: HTTP2.Frame, context: ChannelHandlerContext) throws(HTTP2.ConnectionError) {
        guard frame.streamID != 0 else { throw HTTP2.ConnectionError(.protocolError, "DATA on stream 0") }
        let flowControlled = frame.payload.readableBytes
        guard flowControlled <= inboundConnectionWindow else {
            throw HTTP2.ConnectionError(.flowControlError, "DATA beyond the connection's window")
        }
        inboundConnectionWindow -= flowControlled
        // The connection's window is credited as data arrives, whoever it is for: a call that takes its
        // requests slowly holds back its own stream's window only (what it buffers is bounded by
        // `maxBufferedRequestBytes`), not every other call's on the connection.
        creditConnection(flowControlled)
        guard let stream = streams[frame.streamID] else {
            if isIdle(frame.streamID) {
                throw HTTP2.ConnectionError(.protocolError, "DATA on stream \(frame.streamID), which was never opened")
            }
            return  // A stream that ended meanwhile: its data has nobody to go to.
        }
        guard !stream.endReceived else {
            reset(stream, .streamClosed)  // DATA after END_STREAM (RFC 9113 §6.1).
            return
        }
        guard flowControlled <= stream.inboundWindow else {
            reset(stream, .flowControlError)
            return
        }
        stream.inboundWindow -= flowControlled
        let data = try HTTP2.unpadded(frame)
        guard !stream.call.ended else {
            // Answered already (its trailers may wait for the window): the rest of the request is not needed.
            if frame.has(HTTP2.Flags.endStream) { stream.endReceived = true }
            return
        }
        stream.reader.append(data)
        stream.heldCredit += flowControlled
        if frame.has(HTTP2.Flags.endStream) { stream.endReceived = true }
        countBufferedBytes(of: stream)
        guard bufferedRequestBytes <= limits.maxBufferedRequestBytes else {
            reject(stream, GRPCStatus(.resourceExhausted,
                                      "grpc: more than \(limits.maxBufferedRequestBytes) request bytes are buffered on this connection"))
            return
        }
        deliver(stream)
    }

    /// END_STREAM arrived (on DATA, HEADERS or trailers): the requests end once the messages before it are taken.
    func receivedEnd(of stream: Stream) {
        stream.endReceived = true
        deliver(stream)
    }

    /// Hands the stream's waiting messages to its call while it takes them; once all are taken, credits their
    /// bytes back to the client and passes on END_STREAM.
    func deliver(_ stream: Stream) {
        var drained = false
        while streams[stream.call.streamID] === stream, !stream.call.ended {
            guard takesRequests(stream) else { break }
            let message: ByteBuffer?
            do {
                message = try stream.reader.next()
            } catch MessageReader.Failure.tooLarge(let length) {
                reject(stream, GRPCStatus(.resourceExhausted,
                                          "grpc: received message larger than max (\(length) vs. \(limits.maxMessageBytes))"))
                return
            } catch {
                reject(stream, GRPCStatus(.internal, "grpc: compressed message received but no compression was negotiated"))
                return
            }
            guard let message else {
                drained = true
                break
            }
            switch stream.method {
            case .unary:
                stream.unaryRequestCount += 1
                stream.unaryRequest = message
            case .streaming:
                stream.receiver?.received(message)
            }
        }
        guard streams[stream.call.streamID] === stream, !stream.call.ended else {
            releaseRequests(of: stream)
            return
        }
        countBufferedBytes(of: stream)
        guard drained else {
            if !streamsHolding.contains(where: { $0 === stream }) { streamsHolding.append(stream) }
            return
        }
        creditRequests(of: stream)
        if stream.endReceived { endRequests(stream) }
    }

    /// Gives the calls that stopped taking requests the ones waiting for them, where they take them now.
    func deliverHeld() {
        guard !streamsHolding.isEmpty else { return }
        let holding = streamsHolding
        streamsHolding = []
        for stream in holding where streams[stream.call.streamID] === stream { deliver(stream) }
        if let context { flushSoon(context) }
    }

    /// Whether the call is handed its next request now: a unary call always is (it answers once, at the end); a
    /// streaming call unless it paused, or its own or the connection's responses wait for the client beyond the
    /// limits (each request may add a response).
    func takesRequests(_ stream: Stream) -> Bool {
        guard case .streaming = stream.method else { return true }
        return !stream.requestsPaused && stream.backlogBytes <= limits.maxStreamBacklogBytes
            && backlogBytes <= limits.maxConnectionBacklogBytes
    }

    func endRequests(_ stream: Stream) {
        guard !stream.requestsEnded else { return }
        stream.requestsEnded = true
        if stream.reader.hasPartialMessage {
            reject(stream, GRPCStatus(.internal, "grpc: the request ended inside a message"))
            return
        }
        switch stream.method {
        case .unary(let handle):
            guard stream.unaryRequestCount == 1, let request = stream.unaryRequest else {
                reject(stream, GRPCStatus(.unimplemented,
                                          "grpc: a unary call needs exactly one request message, got \(stream.unaryRequestCount)"))
                return
            }
            stream.unaryRequest = nil
            handle(request, stream.call)
        case .streaming:
            stream.receiver?.requestsEnded()
        }
    }

    /// The call stops (`paused`) or resumes taking requests.
    func setRequestsPaused(_ paused: Bool, on call: ServerCall) {
        guard let stream = streams[call.streamID], stream.call === call, stream.requestsPaused != paused else { return }
        stream.requestsPaused = paused
        if !paused {
            deliver(stream)
            if let context { flushSoon(context) }
        }
    }

    /// Drops what a stream that is gone or answered holds of its requests.
    func releaseRequests(of stream: Stream) {
        stream.reader = MessageReader(maxMessageBytes: limits.maxMessageBytes)
        countBufferedBytes(of: stream)
        stream.heldCredit = 0
        streamsHolding.removeAll { $0 === stream }
    }

    /// Brings the connection's count of buffered request bytes up to date with the stream's reader.
    func countBufferedBytes(of stream: Stream) {
        let held = stream.reader.heldBytes
        bufferedRequestBytes += held - stream.bufferedBytes
        stream.bufferedBytes = held
    }

    /// The stream's messages were all taken: their bytes go back to the stream's window.
    func creditRequests(of stream: Stream) {
        guard stream.heldCredit > 0 else { return }
        let bytes = stream.heldCredit
        stream.heldCredit = 0
        stream.consumedSinceUpdate += bytes
        // Our advertised initial stream window is `windowBytes`; top it up at half.
        if stream.consumedSinceUpdate >= limits.windowBytes / 2, !stream.endReceived {
            writeWindowUpdate(streamID: stream.call.streamID, increment: stream.consumedSinceUpdate)
            stream.inboundWindow += stream.consumedSinceUpdate
            stream.consumedSinceUpdate = 0
        }
    }

    func creditConnection(_ bytes: Int) {
        connectionConsumed += bytes
        if connectionConsumed >= limits.windowBytes / 2 {
            writeWindowUpdate(streamID: 0, increment: connectionConsumed)
            inboundConnectionWindow += connectionConsumed
            connectionConsumed = 0
        }
    }
}
