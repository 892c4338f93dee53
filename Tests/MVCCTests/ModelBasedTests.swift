import Testing
import MVCC
import MVCCModel

/// Thousands of random commands and reads against the store and the reference model, compared after each one.
@Suite struct ModelBasedTests {
    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func storeAgreesWithModel(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        var workload = Workload(seed: seed)
        var checks = SeededRandom(seed: seed ^ 0xC0FFEE)
        var model = ReferenceModel(options: workload.options)
        var store: MVCCStore! = try MVCCStore(directory: directory.child("store"), options: workload.options)
        var outcomes: [String: Int] = [:]
        for index in UInt64(1)...1500 {
            let command = workload.command(for: model)
            let expected = model.apply(command, index: index)
            let got = try store.apply(command, index: index)
            try #require(got == expected, "seed \(seed) index \(index): \(command)\n store: \(got)\n model: \(expected)")
            if case .applied(.failure(let error)) = got { outcomes["\(error)", default: 0] += 1 } else { outcomes["ok", default: 0] += 1 }

            if case .compact = command, checks.chance(0.7) { try store.purgeCompacted(keysPerBatch: checks.int(1...5)) }
            for _ in 0..<2 {
                let request = workload.rangeRequest(in: model)
                let want = model.range(request)
                let have: Result<RangeResponse, MVCCError>
                do { have = .success(try store.range(request)) } catch let error as MVCCError { have = .failure(error) }
                try #require(have == want,
                             "seed \(seed) index \(index): \(request)\n store: \(have)\n model: \(want)")
            }
            if checks.chance(0.02) {
                store = nil
                store = try MVCCStore(directory: directory.child("store"), options: workload.options)
            }
            if index % 100 == 0 {
                let problems = try StateCheck.differences(store: store, model: model, random: &checks, history: index % 500 == 0)
                try #require(problems.isEmpty, "seed \(seed) index \(index): \(problems)")
            }
        }
        // The workload must exercise both success and refusal paths, not only one.
        #expect(outcomes["ok", default: 0] > 600, "\(outcomes)")
        #expect(outcomes.count > 5, "\(outcomes)")
    }
}
