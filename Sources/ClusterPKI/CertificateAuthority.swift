import Crypto
import Foundation
import SwiftASN1
import X509

/// The cluster's certificate authority: a P-256 key and a self-signed CA certificate, kept as PEM files in a
/// directory every master reads (`podium up` makes it once, in the cluster's data directory). It issues each API
/// server its serving certificate, so every client that trusts the CA (the kubeconfig carries it) can verify
/// whichever master answers.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    let key: Certificate.PrivateKey

    public var certificatePEM: String {
        // A certificate we built or read always serializes.
        (try? certificate.serializeAsPEM().pemString) ?? ""
    }

    public static func certificatePath(in directory: String) -> String { directory + "/ca.crt" }
    public static func keyPath(in directory: String) -> String { directory + "/ca.key" }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the CA from `directory`, or makes one there if it has none (the key file readable by its owner only).
    public static func loadOrCreate(in directory: String, name: String = "podium-ca") throws -> CertificateAuthority {
        let certificateFile = certificatePath(in: directory), keyFile = keyPath(in: directory)
        let files = FileManager.default
        if files.fileExists(atPath: certificateFile), files.fileExists(atPath: keyFile) {
            do {
                let certificate = try Certificate(pemEncoded: try String(contentsOfFile: certificateFile, encoding: .utf8))
                let key = try Certificate.PrivateKey(pemEncoded: try String(contentsOfFile: keyFile, encoding: .utf8))
                return CertificateAuthority(certificate: certificate, key: key)
            } catch {
                throw Failure(description: "cannot read the cluster CA in \(directory): \(error)")
            }
        }
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName { CommonName(name) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: key)
        try write(try key.serializeAsPEM().pemString, to: keyFile, mode: 0o600)
        try write(try certificate.serializeAsPEM().pemString, to: certificateFile, mode: 0o644)
        return CertificateAuthority(certificate: certificate, key: key)
    }

    static func write(_ text: String, to path: String, mode: Int) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw Failure(description: "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else { throw Failure(description: "cannot move \(temporary) to \(path): errno \(errno)") }
    }

    /// A serving certificate for `hosts` (DNS names or IP addresses), valid a year, with its new key, as PEM.
    public func issueServingCertificate(commonName: String, hosts: [String]) throws -> (certificate: String, key: String) {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let now = Date()
        var names: [GeneralName] = []
        for host in Set(hosts).sorted() {
            if let address = IPAddress.bytes(host) {
                names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))))
            } else {
                names.append(.dnsName(host))
            }
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(365 * 86_400),
            issuer: self.certificate.subject, subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: self.key)
        return (try certificate.serializeAsPEM().pemString, try key.serializeAsPEM().pemString)
    }
}

/// IPv4 and IPv6 literals as address bytes.
enum IPAddress {
    static func bytes(_ text: String) -> [UInt8]? {
        var address = in_addr()
        if inet_pton(AF_INET, text, &address) == 1 {
            return withUnsafeBytes(of: &address) { Array($0) }
        }
        var address6 = in6_addr()
        if inet_pton(AF_INET6, text, &address6) == 1 {
            return withUnsafeBytes(of: &address6) { Array($0) }
        }
        return nil
    }
}
