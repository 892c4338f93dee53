import Testing
import Foundation
import MVCC
import MVCCModel

/// A child process applies a seeded workload and is killed with SIGKILL mid-write; the reopened store must
/// equal the model at the index it says it applied, which is at least the last index the child reported.
@Suite struct CrashTests {
    static var writerPath: String {
        // The test bundle and the helper executable are built into the same products directory.
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        while !directory.path.hasSuffix("debug") && !directory.path.hasSuffix("release") && directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("mvcc-crash-writer").path
    }

    @Test(arguments: [101, 202, 303] as [UInt64])
    func killedWriterLeavesTheStateOfAnAppliedIndex(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        let storePath = directory.child("store")
        var random = SeededRandom(seed: seed)
        let killAfter = random.int(150...900)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.writerPath)
        process.arguments = [storePath, "\(seed)", "100000"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var reported = 0
        var buffer = Data()
        let deadline = Date().addingTimeInterval(120)
        while reported < killAfter && Date() < deadline && process.isRunning {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            reported = lines.dropLast().compactMap { Int($0) }.last ?? reported
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "the writer must die by the signal, not finish")
        #expect(reported >= killAfter, "the writer reported \(reported) entries before the deadline")

        let store = try MVCCStore(directory: storePath, options: Workload.testOptions)
        let applied = store.appliedIndex
        #expect(applied >= UInt64(reported), "an entry reported as applied was lost")
        var workload = Workload(seed: seed)
        var model = ReferenceModel(options: workload.options)
        for index in UInt64(1)...max(applied, 1) where index <= applied {
            _ = model.apply(workload.command(for: model), index: index)
        }
        var checks = SeededRandom(seed: seed)
        let problems = try StateCheck.differences(store: store, model: model, random: &checks, sampledRevisions: 10, history: true)
        #expect(problems.isEmpty, "seed \(seed), applied \(applied): \(problems)")

        // The store goes on from there: the next entry applies, and is the model's next state.
        let next = workload.command(for: model)
        #expect(try store.apply(next, index: applied + 1) == model.apply(next, index: applied + 1))
    }
}
