import Foundation

/// A helper process of the crash tests, run until it has reported a given number of steps on standard output
/// (one number a line, written unbuffered as each is done) and then killed with SIGKILL.
public enum KilledChild {
    /// The path of helper executable `name`, built into the same products directory as the test bundle.
    public static func executable(_ name: String) -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        while !directory.path.hasSuffix("debug") && !directory.path.hasSuffix("release") && directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent(name).path
    }

    /// Runs `executable` until it reports `steps` (or two minutes pass, or it exits), then kills it; returns the
    /// last step it reported and whether it died by the signal.
    public static func run(_ executable: String, arguments: [String], killAfter steps: Int) throws -> (reported: Int, killed: Bool) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var reported = 0
        var buffer = Data()
        let deadline = Date().addingTimeInterval(120)
        while reported < steps && Date() < deadline && process.isRunning {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            reported = lines.dropLast().compactMap { Int($0) }.last ?? reported
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return (reported, process.terminationReason == .uncaughtSignal)
    }
}
