import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `.safetensors` file, mapped into memory: an 8-byte little-endian header length, a JSON header
/// (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`),
/// then the tensors' bytes, offsets counted from the end of the header.
///
/// The file is mapped read-only once and the tensors the model needs are copied out of it, so
/// loading reads each byte once and the mapping is gone when loading is.
final class SafeTensorsFile {
    /// A tensor's entry in the header.
    struct Tensor {
        var dtype: String
        var shape: [Int]
        /// Byte range in the file.
        var bytes: Range<Int>
    }

    /// Every tensor in the file, by name.
    let tensors: [String: Tensor]
    let url: URL
    private let base: UnsafeRawPointer
    private let length: Int

    init(contentsOf url: URL) throws {
        self.url = url
        let descriptor = open(url.path, O_RDONLY)
        guard descriptor >= 0 else {
            throw TextEmbeddingError(
                code: .modelNotFound, message: "cannot open \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_size >= 8 else {
            throw TextEmbeddingError(code: .invalidModel, message: "\(url.path) is too short to be a safetensors file")
        }
        let length = Int(status.st_size)
        guard let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw TextEmbeddingError(
                code: .invalidModel, message: "cannot map \(url.path): \(String(cString: strerror(errno)))")
        }
        let base = UnsafeRawPointer(mapped)
        do {
            self.tensors = try Self.parseHeader(base: base, length: length, path: url.path)
        } catch {
            munmap(mapped, length)
            throw error
        }
        self.base = base
        self.length = length
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), length)
    }

    /// The bytes of an F32 tensor, after checking that it has the expected shape. Valid while
    /// this file is.
    func floatTensor(_ name: String, shape expected: [Int]) throws -> UnsafeRawBufferPointer {
        guard let tensor = tensors[name] else {
            throw TextEmbeddingError(code: .invalidModel, message: "\(url.path) has no tensor \(name)")
        }
        guard tensor.dtype == "F32" else {
            throw TextEmbeddingError(
                code: .invalidModel, message: "tensor \(name) in \(url.path) is \(tensor.dtype), expected F32")
        }
        guard tensor.shape == expected else {
            throw TextEmbeddingError(
                code: .invalidModel,
                message: "tensor \(name) in \(url.path) has shape \(tensor.shape), expected \(expected)")
        }
        return UnsafeRawBufferPointer(start: base + tensor.bytes.lowerBound, count: tensor.bytes.count)
    }

    private static func parseHeader(base: UnsafeRawPointer, length: Int, path: String) throws -> [String: Tensor] {
        var headerLength: UInt64 = 0
        withUnsafeMutableBytes(of: &headerLength) { $0.copyMemory(from: UnsafeRawBufferPointer(start: base, count: 8)) }
        headerLength = UInt64(littleEndian: headerLength)
        guard headerLength <= UInt64(length - 8) else {
            throw TextEmbeddingError(code: .invalidModel, message: "\(path): header length \(headerLength) is past the end of the file")
        }
        let dataStart = 8 + Int(headerLength)
        let header = Data(bytes: base + 8, count: Int(headerLength))
        guard let entries = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw TextEmbeddingError(code: .invalidModel, message: "\(path): the header is not a JSON object")
        }
        let elementSizes = ["F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]
        var tensors: [String: Tensor] = [:]
        for (name, value) in entries where name != "__metadata__" {
            guard let entry = value as? [String: Any],
                let dtype = entry["dtype"] as? String,
                let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                offsets.count == 2, shape.allSatisfy({ $0 >= 0 })
            else {
                throw TextEmbeddingError(code: .invalidModel, message: "\(path): malformed header entry for \(name)")
            }
            let begin = dataStart + offsets[0]
            let end = dataStart + offsets[1]
            guard offsets[0] >= 0, begin <= end, end <= length else {
                throw TextEmbeddingError(code: .invalidModel, message: "\(path): tensor \(name) lies outside the file")
            }
            if let size = elementSizes[dtype], shape.reduce(size, *) != end - begin {
                throw TextEmbeddingError(
                    code: .invalidModel, message: "\(path): tensor \(name) has \(end - begin) bytes for shape \(shape) of \(dtype)")
            }
            tensors[name] = Tensor(dtype: dtype, shape: shape, bytes: begin..<end)
        }
        return tensors
    }
}
