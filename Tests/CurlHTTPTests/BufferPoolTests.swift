import Foundation
import Testing

import CurlHTTP

/// Reads and response bodies go into pooled buffers: a buffer is reused only after the
/// last copy of the chunk over it is gone, and a chunk keeps its bytes while anything holds it.
@Suite("Buffer pool")
struct BufferPoolTests {
    private static func fill(_ pool: BufferPool, with byte: UInt8, count: Int) throws -> Data {
        try pool.chunk { buffer in
            for index in 0..<count { buffer[index] = byte }
            return count
        }
    }

    private static func address(_ data: Data) -> UnsafeRawPointer? {
        data.withUnsafeBytes { $0.baseAddress }
    }

    @Test("A buffer whose chunk is gone is handed out again; one still held is not, and keeps its bytes")
    func buffersAreReusedOnlyWhenFree() throws {
        let pool = BufferPool(bufferSize: 1 << 16, keptBuffers: 4)
        var first: Data? = try Self.fill(pool, with: 1, count: 1 << 16)
        let firstAddress = Self.address(first!)
        var copy: Data? = first  // a second reference to the same chunk
        first = nil

        let second = try Self.fill(pool, with: 2, count: 1000)
        #expect(Self.address(second) != firstAddress, "a buffer was reused while a copy of its chunk was alive")
        #expect(copy == Data(repeating: 1, count: 1 << 16))
        #expect(second == Data(repeating: 2, count: 1000))

        copy = nil
        let third = try Self.fill(pool, with: 3, count: 5000)
        #expect(Self.address(third) == firstAddress, "the freed buffer was not reused")
        #expect(third == Data(repeating: 3, count: 5000))
        #expect(second == Data(repeating: 2, count: 1000))
    }

    @Test("A fill that throws gives its buffer back, and the error through")
    func failedFillGivesTheBufferBack() throws {
        struct Failure: Error {}
        let pool = BufferPool(bufferSize: 4096, keptBuffers: 1)
        var address: UnsafeMutableRawPointer?
        #expect(throws: Failure.self) {
            _ = try pool.chunk { buffer in
                address = buffer.baseAddress
                throw Failure()
            }
        }
        let next = try Self.fill(pool, with: 7, count: 4096)
        #expect(Self.address(next) == UnsafeRawPointer(address))
    }

    @Test("Empty chunks, and more chunks at once than the pool keeps, are all correct")
    func manyChunksAtOnce() throws {
        let pool = BufferPool(bufferSize: 4096, keptBuffers: 2)
        #expect(try Self.fill(pool, with: 9, count: 0).isEmpty)
        let chunks = try (0..<10).map { try Self.fill(pool, with: UInt8($0), count: 100 + $0) }
        for (index, chunk) in chunks.enumerated() {
            #expect(chunk == Data(repeating: UInt8(index), count: 100 + index))
        }
    }
}
