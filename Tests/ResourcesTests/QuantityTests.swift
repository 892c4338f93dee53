import Resources
import Testing

@Suite struct QuantityTests {
    @Test(arguments: [
        ("100m", 100, 1), ("1", 1000, 1), ("1.5", 1500, 2), ("2k", 2_000_000, 2000), ("1Ki", 1_024_000, 1024),
        ("1Gi", 1_073_741_824_000, 1_073_741_824), ("1e3", 1_000_000, 1000), ("0.1m", 1, 1), ("500u", 1, 1),
        ("-1", -1000, -1), ("128974848", 128_974_848_000, 128_974_848), ("129e6", 129_000_000_000, 129_000_000),
    ] as [(String, Int64, Int64)])
    func quantitiesReadAsKubernetesReadsThem(text: String, milli: Int64, units: Int64) throws {
        let quantity = try #require(Quantity(text))
        #expect(quantity.milliValue == milli)
        #expect(quantity.value == units)
    }

    @Test(arguments: ["", "abc", "1.2.3", "1Qi", "1 Gi", "--1", ".", "1e", "Gi"])
    func malformedQuantitiesAreRefused(text: String) {
        #expect(Quantity(text) == nil)
    }

    @Test(arguments: [
        ("1000m", "1"), ("1500m", "1500m"), ("0.5", "500m"), ("0.1", "100m"), ("1024Mi", "1Gi"), ("1536Mi", "1536Mi"),
        ("1.5Gi", "1536Mi"), ("0.5Ki", "512"), ("1024", "1024"), ("2000k", "2M"), ("1000M", "1G"), ("12e6", "12e6"),
        ("1e3", "1e3"), ("100e-3", "100e-3"), ("0", "0"), ("0Gi", "0"), ("-1000m", "-1"), ("0.1n", "1n"), ("1E", "1E"),
        ("128974848", "128974848"), ("129e6", "129e6"), ("123Mi", "123Mi"), ("5G", "5G"),
    ])
    func quantitiesCanonicalizeAsKubernetesStoresThem(text: String, canonical: String) throws {
        #expect(try #require(Quantity(text)).canonical == canonical)
    }

    @Test func quantitiesCompareByValue() throws {
        #expect(try #require(Quantity("1000m")) == #require(Quantity("1")))
        #expect(try #require(Quantity("1Gi")).compare(#require(Quantity("1G"))) == 1)
    }

    @Test func timestampsRoundTrip() throws {
        let seconds = try #require(RFC3339.parse("2026-12-01T20:34:25Z"))
        #expect(RFC3339.format(seconds) == "2026-12-01T20:34:25Z")
        #expect(RFC3339.parse("2026-12-01T21:34:25+01:00") == seconds)
        #expect(RFC3339.formatMicro(seconds + 0.25) == "2026-12-01T20:34:25.250000Z")
        #expect(RFC3339.parse("2026-13-01T00:00:00Z") == nil)
        #expect(RFC3339.parse("yesterday") == nil)
        #expect(Base64.encode(Array("s3cret".utf8)) == "czNjcmV0")
        #expect(Base64.decode("czNjcmV0") == Array("s3cret".utf8))
        #expect(Base64.firstInvalidByte("cz!j") == 2)
    }
}
