import Foundation
import NIOCore
import Resources
import NIOHTTP1
import Synchronization

/// What the API server answers: a status, headers, and either a whole body or a stream (watches, followed logs)
/// that a producer writes to until it or the client is done.
public struct APIResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Sent with chunked encoding; the producer runs until it returns or the stream closes.
        case stream(@Sendable (ResponseStream) async -> Void)
    }

    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(), body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: HTTPResponseStatus, _ bytes: [UInt8], contentType: String = "application/json") -> APIResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        return APIResponse(status: status, headers: headers, body: .bytes(bytes))
    }

    /// An object in the representation the Accept header asks for: YAML when `application/yaml` is its first
    /// choice, JSON otherwise.
    static func object(_ status: HTTPResponseStatus, _ value: JSONValue, accept: String) -> APIResponse {
        let first = accept.split(separator: ",").first?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces)
        if first == "application/yaml" {
            return .json(status, YAMLWriter.bytes(value), contentType: "application/yaml")
        }
        return .json(status, JSONWriter.bytes(value))
    }

    public static func text(_ status: HTTPResponseStatus, _ text: String) -> APIResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        return APIResponse(status: status, headers: headers, body: .bytes(Array(text.utf8)))
    }
}

/// The writing end of a streamed response, bound to its connection. Writes may come from any thread. A client
/// that stops reading is not buffered for without bound: once `maxBufferedBytes` wait unsent, the stream is
/// closed (the client reconnects and resumes, as Kubernetes clients do when a watch ends).
public final class ResponseStream: Sendable {
    public static let maxBufferedBytes = 16 << 20

    let channel: Channel
    private let buffered = Atomic(0)
    private let closedPromise: EventLoopPromise<Void>

    init(channel: Channel) {
        self.channel = channel
        closedPromise = channel.eventLoop.makePromise()
        channel.closeFuture.whenComplete { [closedPromise] _ in closedPromise.succeed() }
    }

    /// Whether the client is gone (or the stream was cut off): producers stop when it is.
    public var isClosed: Bool { !channel.isActive }

    /// Completes when the connection closes.
    public var closed: EventLoopFuture<Void> { closedPromise.futureResult }

    /// Sends one chunk. Returns false if the stream is closed, or was just closed for falling too far behind.
    @discardableResult
    public func write(_ bytes: ByteBuffer) -> Bool {
        guard channel.isActive else { return false }
        let size = bytes.readableBytes
        let total = buffered.add(size, ordering: .relaxed).newValue
        guard total <= Self.maxBufferedBytes else {
            channel.close(promise: nil)
            return false
        }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in self.buffered.subtract(size, ordering: .relaxed) }
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(bytes)), promise: promise)
        return true
    }

    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        write(ByteBuffer(bytes: bytes))
    }

    /// Sends one chunk, waiting while more than 1 MiB is unsent: for a producer with a lot to send at once (a
    /// watch's initial objects), which then goes at the client's pace instead of filling the buffer.
    public func send(_ bytes: [UInt8]) async -> Bool {
        guard channel.isActive else { return false }
        let size = bytes.count
        let total = buffered.add(size, ordering: .relaxed).newValue
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in self.buffered.subtract(size, ordering: .relaxed) }
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: promise)
        if total > 1 << 20 {
            do { try await promise.futureResult.get() } catch { return false }
        }
        return true
    }
}
