import Testing
import BinaryCoding
import MVCC
import MVCCModel
@testable import Store

@Suite struct CommandCodecTests {
    /// Thousands of random commands (the model-based tests' workload: txns nested two deep, every option).
    @Test func randomCommandsRoundTrip() throws {
        var workload = Workload(seed: 77)
        var model = ReferenceModel(options: workload.options)
        for index in UInt64(1)...3000 {
            let command = workload.command(for: model)
            let requestID = UInt64.random(in: 0...UInt64.max)
            let decoded = try CommandCodec.decode(CommandCodec.encode(requestID: requestID, command))
            #expect(decoded.requestID == requestID)
            #expect(decoded.command == command)
            _ = model.apply(command, index: index)
        }
    }

    @Test func malformedEntriesAreRefused() {
        let valid = CommandCodec.encode(requestID: 1, .put(PutRequest(key: [1], value: [2])))
        for length in 0..<valid.count {
            #expect(throws: ByteReader.Failure.self) { try CommandCodec.decode(Array(valid[..<length])) }
        }
        #expect(throws: ByteReader.Failure.self) { try CommandCodec.decode(valid + [0]) }
        var badTag = valid
        badTag[8] = 99
        #expect(throws: ByteReader.Failure.invalid("command tag 99")) { try CommandCodec.decode(badTag) }
    }
}
