import Foundation
import Testing

@testable import CurlHTTP

/// Request bodies kept as the pieces they arrived in (a single PUT sends the messages it was
/// streamed in): curl reads them across piece boundaries, and from any offset again when it has to
/// resend.
@Suite("Body pieces")
struct BodyPiecesTests {
    /// 10 pieces of varied sizes, 0…(total-1) modulo 251 so that any misplaced byte shows.
    private static let pieces: [Data] = {
        var next = 0
        return [1, 7, 4096, 0, 13, 65_536, 2, 100_000, 1, 3].map { size in
            Data((0..<size).map { _ in
                defer { next += 1 }
                return UInt8(next % 251)
            })
        }
    }()

    private static let joined: Data = Self.pieces.reduce(Data(), +)

    @Test("curl's reader hands over every piece in order, whatever the size of its buffer")
    func readerReadsAcrossPieces() {
        for bufferSize in [1, 5, 4096, 16_384, 1 << 20] {
            let reader = BodyReader(pieces: Self.pieces)
            #expect(reader.count == Self.joined.count)
            #expect(Self.read(reader, bufferSize: bufferSize) == Self.joined)
        }
    }

    @Test("Seeking rewinds the reader to any offset; past the end is refused")
    func readerSeeks() {
        let reader = BodyReader(pieces: Self.pieces)
        _ = Self.read(reader, bufferSize: 10_000)
        for offset in [0, 1, 8, 4104, 4117, 69_653, Self.joined.count - 1, Self.joined.count] {
            #expect(reader.seek(to: offset))
            #expect(Self.read(reader, bufferSize: 777) == Self.joined.dropFirst(offset))
        }
        #expect(!reader.seek(to: Self.joined.count + 1))
        #expect(!reader.seek(to: -1))
    }

    private static func read(_ reader: BodyReader, bufferSize: Int) -> Data {
        var result = Data()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let count = reader.read(into: buffer)
            if count == 0 { return result }
            result.append(contentsOf: buffer.prefix(count))
        }
    }
}
