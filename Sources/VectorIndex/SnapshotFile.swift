import Foundation
import JSONFilter

/// A collection's vectors and graph at one log sequence number, in one file.
///
/// Layout (little-endian), every section starting on a 64-byte boundary so the vectors can be
/// used in place through mmap with aligned SIMD loads:
///
///     header (128 bytes): magic "TROVEHNS", version u32, dimension u32, stride u32, metric u8,
///         m u32, ef_construction u32, ef_search u32, max_level i32, count u64, sequence u64,
///         entry_point i64, seed u64, random_state u64
///     vectors     count × stride × f32
///     levels      count × u8
///     deleted     count × u8
///     level 0     count × (1 + 2M) × u32   (neighbour count, then neighbours)
///     upper       for each node with level > 0: level × (1 + M) × u32
///     labels      count × (length u32, UTF-8)
///     payloads    count × (length u32 or 0xFFFFFFFF for none, JSON text)
///     trailer     crc32c u32 of everything before it, "TEND"
///
/// A snapshot is written to a temporary file, fsynced and renamed over the previous one, so a
/// crash leaves either the old snapshot or the new one.
enum SnapshotFile {
    static let magic = Array("TROVEHNS".utf8)
    static let trailerMagic = Array("TEND".utf8)
    static let version: UInt32 = 1
    static let headerSize = 128

    struct Header {
        var dimension: Int
        var metric: VectorMetric
        var parameters: HNSWParameters
        var count: Int
        var sequence: UInt64
        var entryPoint: Int
        var maxLevel: Int
        var randomState: UInt64
    }

    static func metricCode(_ metric: VectorMetric) -> UInt8 {
        switch metric {
        case .cosine: 1
        case .l2: 2
        case .innerProduct: 3
        }
    }

    static func metric(code: UInt8) -> VectorMetric? {
        switch code {
        case 1: .cosine
        case 2: .l2
        case 3: .innerProduct
        default: nil
        }
    }

    /// Writes `index` (which must not change meanwhile: the caller is the collection's writer).
    /// Returns the file's size.
    static func write(_ index: HNSWIndex, sequence: UInt64, to path: String) throws(VectorIndexError) -> Int {
        let temporary = path + ".tmp"
        let file = try PosixFile.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        var output = SectionWriter(file: file)
        do {
            var header = ByteWriter()
            header.bytes += Self.magic
            header.append(Self.version)
            header.append(UInt32(index.dimension))
            header.append(UInt32(index.stride))
            header.append(Self.metricCode(index.metric))
            header.append(UInt32(index.parameters.m))
            header.append(UInt32(index.parameters.efConstruction))
            header.append(UInt32(index.parameters.efSearch))
            header.append(Int32(index.maxLevel))
            header.append(UInt64(index.count))
            header.append(sequence)
            header.append(Int64(index.entryPoint))
            header.append(index.parameters.seed)
            header.append(index.randomState)
            header.bytes += [UInt8](repeating: 0, count: Self.headerSize - header.bytes.count)
            try output.write(header.bytes)

            let parts = index.rawParts
            try output.write(parts.vectors)
            try output.alignAndWrite(UnsafeRawBufferPointer(parts.levels))
            try output.alignAndWrite(UnsafeRawBufferPointer(parts.deleted))
            try output.alignAndWrite(UnsafeRawBufferPointer(parts.level0))
            try output.align()
            for slot in 0..<index.count where index.level(slot) > 0 {
                try output.write(UnsafeRawBufferPointer(index.upperLinks(slot)))
            }
            try output.align()
            var strings = ByteWriter()
            for label in index.labels {
                strings.append(label)
                if strings.bytes.count > 1 << 20 {
                    try output.write(strings.bytes)
                    strings.bytes.removeAll(keepingCapacity: true)
                }
            }
            try output.write(strings.bytes)
            try output.align()
            strings.bytes.removeAll(keepingCapacity: true)
            for payload in index.payloads {
                if let payload {
                    let text = JSONValue.object(payload).jsonText
                    strings.append(UInt32(text.utf8.count))
                    strings.bytes += text.utf8
                } else {
                    strings.append(UInt32.max)
                }
                if strings.bytes.count > 1 << 20 {
                    try output.write(strings.bytes)
                    strings.bytes.removeAll(keepingCapacity: true)
                }
            }
            try output.write(strings.bytes)
            var trailer = ByteWriter()
            trailer.append(output.checksum)
            trailer.bytes += Self.trailerMagic
            try output.write(trailer.bytes)
            try file.sync()
            file.close()
        } catch {
            file.close()
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else { throw PosixFile.error("rename", temporary) }
        try PosixFile.syncDirectory((path as NSString).deletingLastPathComponent)
        return output.written + 8
    }

    /// Reads a snapshot written by `write`; a damaged file is DATA_LOSS naming the file.
    static func read(from path: String) throws(VectorIndexError) -> (index: HNSWIndex, sequence: UInt64) {
        let mapped = try MappedFile(path: path)
        let bytes = mapped.bytes
        func damaged(_ reason: String) -> VectorIndexError {
            VectorIndexError(.dataLoss, "the snapshot \(path) is damaged: \(reason)")
        }
        guard bytes.count >= Self.headerSize + 8, Array(bytes[0..<8]) == Self.magic else {
            throw damaged("it does not start with the snapshot magic")
        }
        guard Array(bytes[(bytes.count - 4)...]) == Self.trailerMagic else { throw damaged("it is cut short") }
        let stored = bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt32.self).littleEndian
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count - 8)])) == stored else {
            throw damaged("its checksum does not match")
        }
        var reader = ByteReader(bytes, offset: 8)
        guard let version = reader.read(UInt32.self), version == Self.version else {
            throw damaged("version is not \(Self.version)")
        }
        guard let dimension = reader.read(UInt32.self), let stride = reader.read(UInt32.self),
            let metric = reader.read(UInt8.self).flatMap(Self.metric(code:)), let m = reader.read(UInt32.self),
            let efConstruction = reader.read(UInt32.self), let efSearch = reader.read(UInt32.self),
            let maxLevel = reader.read(Int32.self), let count = reader.read(UInt64.self).map(Int.init),
            let sequence = reader.read(UInt64.self), let entryPoint = reader.read(Int64.self),
            let seed = reader.read(UInt64.self), let randomState = reader.read(UInt64.self),
            dimension > 0, m >= 2, Int(stride) == (Int(dimension) + 15) / 16 * 16
        else { throw damaged("its header is invalid") }
        let parameters = HNSWParameters(m: Int(m), efConstruction: Int(efConstruction), efSearch: Int(efSearch), seed: seed)

        reader.offset = Self.headerSize
        let level0Words = 1 + 2 * Int(m)
        let upperWords = 1 + Int(m)
        guard let vectors = reader.readBytes(count * Int(stride) * 4) else { throw damaged("the vectors are cut short") }
        reader.align(to: 64)
        guard let levels = reader.readBytes(count) else { throw damaged("the levels are cut short") }
        reader.align(to: 64)
        guard let deleted = reader.readBytes(count) else { throw damaged("the tombstones are cut short") }
        reader.align(to: 64)
        guard let level0 = reader.readBytes(count * level0Words * 4) else { throw damaged("the base layer is cut short") }
        reader.align(to: 64)
        var upperOffsets = [Int](repeating: 0, count: count)
        for slot in 0..<count where levels[slot] > 0 {
            upperOffsets[slot] = reader.offset
            guard reader.readBytes(Int(levels[slot]) * upperWords * 4) != nil else { throw damaged("the upper layers are cut short") }
        }
        reader.align(to: 64)
        var labels: [String] = []
        labels.reserveCapacity(count)
        for _ in 0..<count {
            guard let label = reader.readString() else { throw damaged("the ids are cut short") }
            labels.append(label)
        }
        reader.align(to: 64)
        var payloads: [JSONObject?] = []
        var payloadSizes: [UInt32] = []
        payloads.reserveCapacity(count)
        for _ in 0..<count {
            guard let length = reader.read(UInt32.self) else { throw damaged("the payloads are cut short") }
            if length == UInt32.max {
                payloads.append(nil)
                payloadSizes.append(0)
            } else {
                guard let text = reader.readBytes(Int(length)),
                    case .object(let object)? = try? JSONValue(jsonText: String(decoding: text, as: UTF8.self))
                else { throw damaged("a payload is not a JSON object") }
                payloads.append(object)
                payloadSizes.append(length)
            }
        }
        // Links must point at slots that exist: a bad link would read outside the vectors.
        let links = level0.bindMemory(to: UInt32.self)
        for slot in 0..<count {
            let neighbors = Int(links[slot * level0Words])
            guard neighbors <= 2 * Int(m) else { throw damaged("node \(slot) has too many neighbours") }
            for index in 0..<neighbors where Int(links[slot * level0Words + 1 + index]) >= count {
                throw damaged("node \(slot) links to a node that does not exist")
            }
        }
        guard entryPoint < count, (entryPoint < 0) == (maxLevel < 0) else { throw damaged("the entry point is invalid") }

        let index = HNSWIndex.restore(
            dimension: Int(dimension),
            metric: metric,
            parameters: parameters,
            count: count,
            vectors: vectors,
            levels: levels.bindMemory(to: UInt8.self),
            deleted: deleted.bindMemory(to: UInt8.self),
            level0: links,
            upperLinks: { slot in
                UnsafeBufferPointer(
                    start: (bytes.baseAddress! + upperOffsets[slot]).assumingMemoryBound(to: UInt32.self),
                    count: Int(levels[slot]) * upperWords
                )
            },
            labels: labels,
            payloads: payloads,
            payloadSizes: payloadSizes,
            entryPoint: Int(entryPoint),
            maxLevel: Int(maxLevel),
            randomState: randomState
        )
        return (index, sequence)
    }
}

/// Streams sections to a file through a buffer, keeping the running checksum and offset.
private struct SectionWriter {
    let file: PosixFile
    private(set) var checksum: UInt32 = 0
    private(set) var written = 0

    init(file: PosixFile) {
        self.file = file
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(VectorIndexError) {
        guard !bytes.isEmpty else { return }
        self.checksum = CRC32C.update(self.checksum, bytes)
        try self.file.write(bytes)
        self.written += bytes.count
    }

    mutating func write(_ bytes: [UInt8]) throws(VectorIndexError) {
        try bytes.withBytes { (buffer) throws(VectorIndexError) in try self.write(buffer) }
    }

    mutating func align() throws(VectorIndexError) {
        let padding = (64 - self.written % 64) % 64
        try self.write([UInt8](repeating: 0, count: padding))
    }

    mutating func alignAndWrite(_ bytes: UnsafeRawBufferPointer) throws(VectorIndexError) {
        try self.align()
        try self.write(bytes)
    }
}
