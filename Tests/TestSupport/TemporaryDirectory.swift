import Foundation

/// A fresh directory under the system temporary directory, removed when the test is done with it.
public final class TemporaryDirectory {
    public let path: String

    public init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("podium-test-\(UUID().uuidString)").path
        // The parent is the system temporary directory, which exists and is writable.
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func child(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
