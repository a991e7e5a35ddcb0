import Foundation
import GRPCCore
import SwiftProtobuf
import TroveContracts

/// gRPC server reflection, so that grpcurl, Postman or any reflection client can list a
/// listener's services and fetch their contracts. Offered as `grpc.reflection.v1` and, for
/// older clients, `grpc.reflection.v1alpha` (the same messages under another package).
///
/// The descriptors are those of `Protos/`, compiled in by `Scripts/generate-protos.sh`.
public struct ReflectionService: Grpc_Reflection_V1_ServerReflection.SimpleServiceProtocol {
    let index: DescriptorIndex

    /// - Parameter services: Fully qualified names of the services the listener offers.
    public init(services: [String]) {
        self.index = DescriptorIndex.shared.offering(services + Self.names)
    }

    /// The reflection services' own names.
    public static let names = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]

    /// The same service under the v1alpha package.
    public var alpha: Alpha { Alpha(index: self.index) }

    public func serverReflectionInfo(
        request: RPCAsyncSequence<Grpc_Reflection_V1_ServerReflectionRequest, any Error>,
        response: RPCWriter<Grpc_Reflection_V1_ServerReflectionResponse>,
        context: ServerContext
    ) async throws {
        for try await message in request {
            try await response.write(self.index.answer(message))
        }
    }

    public struct Alpha: Grpc_Reflection_V1alpha_ServerReflection.SimpleServiceProtocol {
        let index: DescriptorIndex

        public func serverReflectionInfo(
            request: RPCAsyncSequence<Grpc_Reflection_V1alpha_ServerReflectionRequest, any Error>,
            response: RPCWriter<Grpc_Reflection_V1alpha_ServerReflectionResponse>,
            context: ServerContext
        ) async throws {
            // The two packages' messages are the same on the wire.
            for try await message in request {
                let answer = self.index.answer(try Grpc_Reflection_V1_ServerReflectionRequest(serializedBytes: try message.serializedBytes() as [UInt8]))
                try await response.write(try Grpc_Reflection_V1alpha_ServerReflectionResponse(serializedBytes: try answer.serializedBytes() as [UInt8]))
            }
        }
    }
}

/// Files of `Protos/` by name, and the file that defines each symbol.
struct DescriptorIndex: Sendable {
    /// Serialized `FileDescriptorProto` by file name.
    let files: [String: Data]
    let imports: [String: [String]]
    /// The file defining each fully qualified symbol: packages' messages, their fields and nested
    /// types, enums and their values, services and their methods.
    let symbols: [String: String]
    let services: [String]

    static let shared: DescriptorIndex = {
        guard let data = Data(base64Encoded: TroveDescriptors.fileDescriptorSetBase64),
            let set = try? Google_Protobuf_FileDescriptorSet(serializedBytes: data)
        else {
            preconditionFailure("the compiled-in descriptor set does not decode: regenerate it with Scripts/generate-protos.sh")
        }
        return DescriptorIndex(set: set)
    }()

    init(set: Google_Protobuf_FileDescriptorSet, services: [String] = []) {
        var files: [String: Data] = [:]
        var imports: [String: [String]] = [:]
        var symbols: [String: String] = [:]
        for file in set.file {
            files[file.name] = (try? file.serializedBytes()) ?? Data()
            imports[file.name] = file.dependency
            let scope = file.package.isEmpty ? "" : file.package + "."
            func add(_ name: String) { symbols[name] = file.name }
            func addMessage(_ message: Google_Protobuf_DescriptorProto, in scope: String) {
                let name = scope + message.name
                add(name)
                for field in message.field { add(name + "." + field.name) }
                for nested in message.nestedType { addMessage(nested, in: name + ".") }
                for nested in message.enumType { addEnum(nested, in: name + ".") }
            }
            func addEnum(_ enumeration: Google_Protobuf_EnumDescriptorProto, in scope: String) {
                add(scope + enumeration.name)
                // Enum values are scoped like their enum's siblings, as in C++.
                for value in enumeration.value { add(scope + value.name) }
            }
            for message in file.messageType { addMessage(message, in: scope) }
            for enumeration in file.enumType { addEnum(enumeration, in: scope) }
            for service in file.service {
                add(scope + service.name)
                for method in service.method { add(scope + service.name + "." + method.name) }
            }
        }
        self.files = files
        self.imports = imports
        self.symbols = symbols
        self.services = services.sorted()
    }

    private init(files: [String: Data], imports: [String: [String]], symbols: [String: String], services: [String]) {
        self.files = files
        self.imports = imports
        self.symbols = symbols
        self.services = services
    }

    /// The same descriptors, listing `services`.
    func offering(_ services: [String]) -> DescriptorIndex {
        DescriptorIndex(files: self.files, imports: self.imports, symbols: self.symbols, services: Array(Set(services)).sorted())
    }

    /// `name` and every file it imports, directly or not, each once, `name` first.
    func fileWithImports(_ name: String) -> [Data]? {
        guard self.files[name] != nil else { return nil }
        var order: [String] = []
        var seen: Set<String> = []
        var pending = [name]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted else { continue }
            order.append(next)
            pending += (self.imports[next] ?? []).reversed()
        }
        return order.compactMap { self.files[$0] }
    }

    func answer(_ request: Grpc_Reflection_V1_ServerReflectionRequest) -> Grpc_Reflection_V1_ServerReflectionResponse {
        var response = Grpc_Reflection_V1_ServerReflectionResponse()
        response.validHost = request.host
        response.originalRequest = request
        func notFound(_ message: String) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse {
            .errorResponse(.with {
                $0.errorCode = Int32(RPCError.Code.notFound.rawValue)
                $0.errorMessage = message
            })
        }
        func files(_ name: String) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse? {
            self.fileWithImports(name).map { files in .fileDescriptorResponse(.with { $0.fileDescriptorProto = files }) }
        }
        switch request.messageRequest {
        case .listServices:
            response.messageResponse = .listServicesResponse(.with { list in
                list.service = self.services.map { name in .with { $0.name = name } }
            })
        case .fileByFilename(let name):
            response.messageResponse = files(name) ?? notFound("no file named '\(name)'")
        case .fileContainingSymbol(let symbol):
            let trimmed = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
            response.messageResponse = self.symbols[trimmed].flatMap(files) ?? notFound("no symbol named '\(symbol)'")
        case .fileContainingExtension(let request):
            response.messageResponse = notFound("no extension \(request.extensionNumber) of '\(request.containingType)': Trove's contracts define no extensions")
        case .allExtensionNumbersOfType(let type):
            if self.symbols[type] != nil {
                response.messageResponse = .allExtensionNumbersResponse(.with { $0.baseTypeName = type })
            } else {
                response.messageResponse = notFound("no type named '\(type)'")
            }
        case nil:
            response.messageResponse = .errorResponse(.with {
                $0.errorCode = Int32(RPCError.Code.invalidArgument.rawValue)
                $0.errorMessage = "message_request: one of its fields must be set"
            })
        }
        return response
    }
}
