/// The Kubernetes version the API server speaks. kubectl's dispatcher picks the client by `minor`, so it says 32.
enum Version {
    static let major = "1"
    static let minor = "32"
    static let gitVersion = "v1.32.4"

    static var document: String {
        #"{"major":"\#(major)","minor":"\#(minor)","gitVersion":"\#(gitVersion)","gitCommit":"podium","gitTreeState":"clean","buildDate":"2026-12-01T00:00:00Z","goVersion":"swift6","compiler":"swiftc","platform":"linux/amd64"}"#
    }
}
