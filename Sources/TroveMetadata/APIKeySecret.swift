import Crypto
import Foundation
import TroveCore

/// API key secrets: 256 random bits handed to the caller once, and the SHA-256 the store keeps.
///
/// A plain SHA-256 (no salt, no slow KDF) is enough because the secret is 256 bits of system
/// randomness, not a password: there is nothing to guess, and the hash must be exact-matchable
/// so a key is found by an index lookup on every authenticated call.
enum APIKeySecret {
    /// Marks a string as a Trove key, so secret scanners and people can recognise a leaked one.
    static let prefix = "trove_"

    /// `trove_` followed by 32 random bytes in unpadded base64url (43 characters).
    static func generate() -> String {
        let key = SymmetricKey(size: .bits256)
        let base64 = key.withUnsafeBytes { Data($0) }.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return Self.prefix + base64
    }

    /// Lower-case hex SHA-256 of the secret's UTF-8 bytes.
    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).lowercaseHex
    }
}
