import Foundation
import Synchronization

/// A one-line progress bar on standard error, redrawn a few times a second while a run lasts; drawn only when
/// standard error is a terminal, so logs and `--json` output stay clean.
final class ProgressBar: Sendable {
    let completed = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let label: String
    private let total: Int?
    private let duration: Double?
    private let started = DispatchTime.now().uptimeNanoseconds

    init(label: String, total: Int?, duration: Double?, enabled: Bool) {
        self.label = label
        self.total = total
        self.duration = duration
        guard enabled, isatty(STDERR_FILENO) != 0 else {
            stopped.store(true, ordering: .relaxed)
            return
        }
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .relaxed) {
                draw()
                Thread.sleep(forTimeInterval: 0.25)
            }
        }
    }

    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    private func draw() {
        let done = completed.load(ordering: .relaxed)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let fraction = total.map { min(1, Double(done) / Double(max($0, 1))) }
            ?? duration.map { min(1, elapsed / $0) } ?? 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let line = String(format: "\r%@ [%@] %3.0f%%  %d done  %.0f/s  %.1f s", label, bar, fraction * 100, done, rate, elapsed)
        FileHandle.standardError.write(Data(line.utf8))
    }
}
