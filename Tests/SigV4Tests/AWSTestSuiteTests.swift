import Crypto
import Foundation
import SigV4
import Testing

/// AWS's own SigV4 test suite (from awslabs/aws-c-auth, in ../shared/testdata/sigv4): for each
/// case, the canonical request, string to sign and signature, in the header form and the
/// presigned-query form, must match AWS's byte for byte.
///
/// Every one of the 38 cases applies: the `*-normalized` cases run with path normalization
/// (every service but S3), the `*-unnormalized` ones without it (S3's rule).
@Suite("SigV4 against AWS's test suite")
struct AWSTestSuiteTests {
    static let suiteDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("shared/testdata/sigv4/v4")

    static let cases: [String] = {
        (try? FileManager.default.contentsOfDirectory(atPath: suiteDirectory.path))?.sorted() ?? []
    }()

    @Test("The suite is where the tests expect it, whole")
    func suitePresent() {
        #expect(Self.cases.count == 38, "expected AWS's 38 cases in \(Self.suiteDirectory.path)")
    }

    @Test("Header form: canonical request, string to sign, signature and Authorization", arguments: cases)
    func headerForm(name: String) throws {
        let testCase = try TestCase(directory: Self.suiteDirectory.appendingPathComponent(name))
        let signed = testCase.signer.signHeaders(testCase.request, payload: testCase.payload)
        #expect(signed.canonicalRequest == (try testCase.file("header-canonical-request.txt")))
        #expect(signed.stringToSign == (try testCase.file("header-string-to-sign.txt")))
        #expect(signed.signature == (try testCase.file("header-signature.txt")).trimmingCharacters(in: .whitespacesAndNewlines))
        let expectedAuthorization = try testCase.file("header-signed-request.txt")
            .split(separator: "\n")
            .first { $0.hasPrefix("Authorization:") }
            .map { String($0.dropFirst("Authorization:".count)) }
        #expect(signed.headersToAdd.first { $0.name == "Authorization" }?.value == expectedAuthorization)
    }

    @Test("Presigned query form: canonical request, string to sign and signature", arguments: cases)
    func queryForm(name: String) throws {
        let testCase = try TestCase(directory: Self.suiteDirectory.appendingPathComponent(name))
        let signed = testCase.signer.presign(testCase.request, expires: testCase.expires, payload: testCase.payload)
        #expect(signed.canonicalRequest == (try testCase.file("query-canonical-request.txt")))
        #expect(signed.stringToSign == (try testCase.file("query-string-to-sign.txt")))
        let signature = try testCase.file("query-signature.txt").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(signed.signature == signature)
        #expect(signed.encodedQuery.hasSuffix("X-Amz-Signature=\(signature)") || signed.encodedQuery.contains("X-Amz-Signature=\(signature)&"))
    }
}

/// One case of the suite: its context, and its request parsed from HTTP text.
struct TestCase {
    let directory: URL
    let signer: SigV4Signer
    let request: SigV4Request
    let payload: SigV4Payload
    let expires: Int

    struct Context: Decodable {
        struct Credentials: Decodable {
            let access_key_id: String
            let secret_access_key: String
            let token: String?
        }

        let credentials: Credentials
        let expiration_in_seconds: Int
        let normalize: Bool
        let region: String
        let service: String
        let sign_body: Bool
        let timestamp: String
        let omit_session_token: Bool?
    }

    init(directory: URL) throws {
        self.directory = directory
        let context = try JSONDecoder().decode(Context.self, from: Data(contentsOf: directory.appendingPathComponent("context.json")))
        let date = try #require(ISO8601DateFormatter().date(from: context.timestamp))
        self.signer = SigV4Signer(
            credentials: SigV4Credentials(
                accessKeyID: context.credentials.access_key_id,
                secretAccessKey: context.credentials.secret_access_key,
                sessionToken: context.credentials.token
            ),
            configuration: .init(
                region: context.region,
                service: context.service,
                normalizePath: context.normalize,
                signContentSHA256Header: context.sign_body,
                omitSessionTokenFromSignature: context.omit_session_token ?? false
            ),
            clock: { date }
        )
        self.expires = context.expiration_in_seconds

        let text = String(decoding: try Data(contentsOf: directory.appendingPathComponent("request.txt")), as: UTF8.self)
        var lines = text.components(separatedBy: "\n")
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix { $0 != " " })
        var target = String(requestLine.dropFirst(method.count + 1))
        if target.hasSuffix(" HTTP/1.1") {
            target.removeLast(" HTTP/1.1".count)
        }
        var path = target
        var query: [(name: String, value: String)] = []
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            for pair in target[target.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = try #require(SigV4Encoding.decode(String(parts[0])))
                let value = try #require(SigV4Encoding.decode(parts.count > 1 ? String(parts[1]) : ""))
                query.append((name, value))
            }
        }
        var headers: [(name: String, value: String)] = []
        var bodyLines: [String]?
        for line in lines {
            if bodyLines != nil {
                bodyLines!.append(line)
            } else if line.isEmpty {
                bodyLines = []
            } else if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        let body = Data((bodyLines ?? []).joined(separator: "\n").utf8)
        self.request = SigV4Request(method: method, path: path, query: query, headers: headers)
        self.payload = context.sign_body
            ? .sha256(SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined())
            : .empty
    }

    func file(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: self.directory.appendingPathComponent(name)), as: UTF8.self)
    }
}
