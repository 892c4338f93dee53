import ClusterPKI
import Foundation
import NIOCore
import NIOPosix

/// What a local cluster's clients need: the admin token (kept in the cluster's data directory, readable by its
/// owner only) and the cluster CA that signs every API server's certificate; and the kubeconfig made of them.
struct ClusterCredentials {
    let token: String
    let authority: CertificateAuthority

    static func loadOrCreate(in directory: String) throws -> ClusterCredentials {
        let path = LocalCluster.tokenPath(directory)
        let token: String
        // The file is a token-auth file line ("token,user,uid,groups"): the token is its first field.
        if let line = try? String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first,
           let existing = line.split(separator: ",").first.map(String.init), !existing.isEmpty {
            token = existing
        } else {
            var bytes = [UInt8](repeating: 0, count: 24)
            for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
            token = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
            guard FileManager.default.createFile(atPath: path, contents: Data((token + ",admin,admin,system:masters\n").utf8),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw CommandFailure("cannot write \(path)")
            }
        }
        do {
            return ClusterCredentials(token: token, authority: try CertificateAuthority.loadOrCreate(in: LocalCluster.pkiPath(directory)))
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// Waits until an API server on `port` answers /readyz.
    func awaitAPIServer(port: Int, timeout: Double, directory: String) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let status = await APIServerProbe.status(host: "127.0.0.1", port: port, path: "/readyz", token: token,
                                                     caPEM: authority.certificatePEM, group: group)
            if status == 200 {
                try? await group.shutdownGracefully()
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        try? await group.shutdownGracefully()
        throw CommandFailure("no API server answered on https://127.0.0.1:\(port) within \(Int(timeout)) s; see \(directory)/*.log")
    }

    /// Writes the kubeconfig (server URL, CA, token) and returns its absolute path.
    func writeKubeconfig(in directory: String, port: Int) throws -> String {
        let path = URL(fileURLWithPath: LocalCluster.kubeconfigPath(directory)).standardizedFileURL.path
        let ca = Data(authority.certificatePEM.utf8).base64EncodedString()
        let text = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: podium
          cluster:
            server: https://127.0.0.1:\(port)
            certificate-authority-data: \(ca)
        contexts:
        - name: podium
          context:
            cluster: podium
            user: admin
            namespace: default
        current-context: podium
        users:
        - name: admin
          user:
            token: \(token)

        """
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CommandFailure("cannot write \(path)")
        }
        return path
    }
}
