import Foundation

/// The on-disk form of one object in the filesystem backend:
///
///     [object bytes][metadata JSON][UInt32 LE metadata length][UInt64 LE object size]["TROVEOB1"]
///
/// The metadata follows the bytes because the SHA-256 is known only once they have all been
/// written; the fixed 20-byte trailer at the end lets a reader find both with two small reads.
enum ObjectFileFormat {
    static let magic = Array("TROVEOB1".utf8)
    static let trailerSize = 4 + 8 + 8

    struct Metadata: Codable {
        var sha256: String
        var contentType: String
        var userMetadata: [String: String]
        var lastModified: Double
    }

    /// The metadata block and trailer to append after the object's bytes.
    static func trailer(for info: ObjectInfo) throws -> Data {
        let metadata = Metadata(
            sha256: info.sha256,
            contentType: info.contentType,
            userMetadata: info.userMetadata,
            lastModified: info.lastModified.timeIntervalSince1970
        )
        var data = try JSONEncoder().encode(metadata)
        withUnsafeBytes(of: UInt32(data.count).littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: info.size.littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: magic)
        return data
    }

    /// Reads an object file's trailer and metadata; `dataLoss` when they are damaged.
    static func readInfo(_ file: POSIXFile, bucket: String, key: String) throws -> ObjectInfo {
        let fileSize = try file.size()
        func damaged(_ why: String) -> ObjectStoreError {
            ObjectStoreError(.dataLoss, "object '\(key)' in bucket '\(bucket)' is damaged: \(why)")
        }
        guard fileSize >= UInt64(trailerSize) else {
            throw damaged("file is shorter than its trailer")
        }
        let trailer = Array(try file.read(count: trailerSize, at: fileSize - UInt64(trailerSize)))
        guard Array(trailer[12..<20]) == magic else {
            throw damaged("trailer magic is missing")
        }
        let metadataLength = trailer[0..<4].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let size = trailer[4..<12].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard size.addingReportingOverflow(metadataLength).partialValue + UInt64(trailerSize) == fileSize,
            metadataLength < 16 << 20
        else {
            throw damaged("lengths in the trailer do not add up to the file size")
        }
        let metadataData = try file.read(count: Int(metadataLength), at: size)
        guard let metadata = try? JSONDecoder().decode(Metadata.self, from: metadataData) else {
            throw damaged("metadata block is not valid")
        }
        return ObjectInfo(
            bucket: bucket,
            key: key,
            size: size,
            sha256: metadata.sha256,
            contentType: metadata.contentType,
            userMetadata: metadata.userMetadata,
            lastModified: Date(timeIntervalSince1970: metadata.lastModified)
        )
    }
}
