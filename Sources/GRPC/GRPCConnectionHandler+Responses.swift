import NIOCore

/// The responses side: messages gathered per stream between flushes, DATA sent as the client's windows and the
/// socket allow, the rest waiting (bounded: see `Limits`), trailers behind it.
extension GRPCConnectionHandler {
    // On the event loop, via ServerCall.

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
        pendingBytes += framed.readableBytes
        // Messages sent before the next flush share one run of DATA: a watch stream delivering to a hundred
        // watchers costs one frame, not a hundred, on the wire and in the client.
        if var pending = stream.pending {
            stream.pending = nil
            if pending.readableBytes + framed.readableBytes > Self.batchBytes {
                // Full: out it goes, and this message starts the next batch.
                pendingBytes -= pending.readableBytes
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
        if call.abandoned {
            // The client reset the call before its handler answered: the handler is done with it now.
            call.abandoned = false
            abandonedCalls -= 1
        }
        guard !call.ended, let context else { return }
        call.ended = true
        guard let stream = streams[call.streamID] else { return }
        // Answered: the rest of its requests (if any) are not needed, even while its trailers wait.
        releaseRequests(of: stream)
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

    func wakeBlockedStreams() {
        guard let context, context.channel.isWritable, connectionWindow > 0 else { return }
        for stream in streams.values where stream.blocked && stream.window > 0 && stream.unsent == nil {
            stream.blocked = false
            stream.receiver?.becameWritable()
        }
    }

    // MARK: frames out

    /// Writes what is pending, then hands everything written since the last flush to the socket at once.
    func flushOutput(_ context: ChannelHandlerContext) {
        if !streamsWithPending.isEmpty {
            for stream in streamsWithPending { writePending(of: stream) }
            streamsWithPending.removeAll(keepingCapacity: true)
        }
        output.flush(context)
    }

    /// Coalesces flushes: inside a read burst the read-complete flushes; otherwise one flush is queued behind
    /// whatever other responses are already queued for this event loop.
    func flushSoon(_ context: ChannelHandlerContext) {
        guard output.needsScheduledFlush() else { return }
        context.eventLoop.assumeIsolated().execute { [weak self] in
            guard let self, self.output.takeScheduledFlush(), let context = self.context else { return }
            self.flushOutput(context)
        }
    }

    func writePending(of stream: Stream) {
        guard let data = stream.pending else { return }
        stream.pending = nil
        pendingBytes -= data.readableBytes
        // A stream reset by the client meanwhile has nobody to read it.
        guard streams[stream.call.streamID] === stream else { return }
        writeData(data, on: stream)
    }

    /// Sends what the windows allow now; the rest waits in `unsent`, behind which nothing else of the stream
    /// may pass.
    func writeData(_ data: ByteBuffer, on stream: Stream) {
        var data = data
        if var unsent = stream.unsent {
            stream.unsent = nil  // So the write below does not copy the buffer.
            backlogBytes += data.readableBytes
            unsent.writeBuffer(&data)
            stream.unsent = unsent
            return
        }
        sendAllowed(&data, on: stream)
        if data.readableBytes > 0 {
            backlogBytes += data.readableBytes
            stream.unsent = data
            streamsWaiting.append(stream)
        }
    }

    /// Writes DATA frames from `data` while the stream's and the connection's windows allow and the socket
    /// takes more (what it has not sent yet stays below its high-water mark, plus one frame).
    func sendAllowed(_ data: inout ByteBuffer, on stream: Stream) {
        guard let context else { return }
        while data.readableBytes > 0, context.channel.isWritable {
            let length = min(data.readableBytes, peerMaxFrameSize, connectionWindow, stream.window)
            guard length > 0 else { return }
            HTTP2.writeFrameHeader(.data, length: length, streamID: stream.call.streamID, to: &output.frames)
            // Safe to force: `length` is at most the readable bytes.
            let payload = data.readSlice(length: length)!
            if length >= Self.copyLimit {
                output.handOver(context)
                context.write(wrapOutboundOut(payload), promise: nil)
            } else {
                output.frames.writeImmutableBuffer(payload)
                // Handed over without a flush: the channel counts it toward its writability from here.
                if output.frames.readableBytes >= Self.handOverBytes { output.handOver(context) }
            }
            connectionWindow -= length
            stream.window -= length
        }
    }

    /// Retries the streams waiting for a window, in order; a finished stream whose data is all out gets its
    /// trailers.
    func sendWaiting() {
        guard !streamsWaiting.isEmpty else { return }
        var stillWaiting: [Stream] = []
        for stream in streamsWaiting {
            guard streams[stream.call.streamID] === stream, var data = stream.unsent else { continue }
            stream.unsent = nil
            backlogBytes -= data.readableBytes
            sendAllowed(&data, on: stream)
            if data.readableBytes > 0 {
                backlogBytes += data.readableBytes
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
    func close(_ stream: Stream, trailers: ByteBuffer) {
        streams[stream.call.streamID] = nil
        stream.deadline?.cancel()
        stream.deadline = nil
        writeHeaders(stream.call.streamID, trailers.readableBytesView, endStream: true)
        if !stream.endReceived { writeResetStream(stream.call.streamID, .noError) }
    }

    func writeTrailersOnly(_ streamID: UInt32, status: GRPCStatus, requestsEnded: Bool, context: ChannelHandlerContext) {
        var block = context.channel.allocator.buffer(capacity: 64)
        GRPCHeaderBlock.trailers(status, trailersOnly: true, to: &block)
        writeHeaders(streamID, block.readableBytesView, endStream: true)
        if !requestsEnded { writeResetStream(streamID, .noError) }
        flushSoon(context)
    }

    func writeHeaders<Block: Collection>(_ streamID: UInt32, _ block: Block, endStream: Bool) where Block.Element == UInt8 {
        HTTP2.writeHeaderBlock(block, streamID: streamID, endStream: endStream, maxFrameSize: peerMaxFrameSize, to: &output.frames)
    }

    func writeResetStream(_ streamID: UInt32, _ code: HTTP2.ErrorCode) {
        HTTP2.writeResetStream(streamID, code, to: &output.frames)
    }

    func writeWindowUpdate(streamID: UInt32, increment: Int) {
        HTTP2.writeWindowUpdate(streamID: streamID, increment: increment, to: &output.frames)
    }
}
