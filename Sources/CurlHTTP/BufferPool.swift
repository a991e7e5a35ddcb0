import Foundation
import Synchronization

/// Buffers for large chunks of bytes, reused instead of allocated afresh for each chunk: the
/// HTTP client's response bodies (S3's ranged GETs) and the filesystem backend's reads.
///
/// A fresh allocation is fresh pages, and faulting them in (and zeroing them) cost more CPU than
/// the reads that filled them: a third of the object-storage service's CPU in S3 downloads, where
/// each 4 MiB range came in a new mapping. A chunk is handed out as a `Data` over a pooled
/// buffer; the buffer comes back when the last copy of that `Data` goes.
public final class BufferPool: Sendable {
    /// A buffer's address; the memory is owned by whoever took it from the pool.
    private struct Buffer: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    public let bufferSize: Int
    /// At most this many idle buffers are kept; more are freed.
    public let keptBuffers: Int
    private let idle = Mutex<[Buffer]>([])

    public init(bufferSize: Int, keptBuffers: Int) {
        self.bufferSize = bufferSize
        self.keptBuffers = keptBuffers
    }

    deinit {
        for buffer in self.idle.withLock({ $0 }) {
            buffer.pointer.deallocate()
        }
    }

    /// A chunk of up to `bufferSize` bytes written by `fill`, which returns how many it wrote.
    public func chunk(_ fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Data {
        let buffer = self.idle.withLock { $0.popLast() }
            ?? Buffer(pointer: .allocate(byteCount: self.bufferSize, alignment: 64))
        let count: Int
        do {
            count = try fill(UnsafeMutableRawBufferPointer(start: buffer.pointer, count: self.bufferSize))
        } catch {
            self.giveBack(buffer)
            throw error
        }
        precondition((0...self.bufferSize).contains(count), "a chunk filled \(count) bytes of a \(self.bufferSize)-byte buffer")
        return Data(bytesNoCopy: buffer.pointer, count: count, deallocator: .custom { _, _ in self.giveBack(buffer) })
    }

    private func giveBack(_ buffer: Buffer) {
        let kept = self.idle.withLock { idle in
            guard idle.count < self.keptBuffers else { return false }
            idle.append(buffer)
            return true
        }
        if !kept {
            buffer.pointer.deallocate()
        }
    }
}
