import ArgumentParser
import GRPCCore
import TroveContracts
import TroveCore

/// `trove health`: asks a Trove process whether its services serve; the exit status says.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Check that the services at an address are serving.",
        discussion: """
            Exits 0 when the server and every service it hosts (or every --service named) is \
            SERVING, 1 otherwise.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(name: .long, help: "Only check this service (\(TroveServiceName.allCases.map(\.rawValue).joined(separator: ", "))); repeatable.")
    var service: [String] = []

    func run() async throws {
        let wanted = try self.service.map { name in
            guard let service = TroveServiceName(rawValue: name) else {
                throw ValidationError("unknown service '\(name)'")
            }
            return service
        }
        let options = self.client.callOptions
        let healthy = try await self.client.withClient { client in
            let health = Grpc_Health_V1_Health.Client(wrapping: client)
            let overall = try await health.check(.with { $0.service = "" }, options: options).status
            print("server          \(Self.describe(overall))")
            var healthy = overall == .serving
            var hostedAny = false
            for service in TroveServiceName.allCases where wanted.isEmpty || wanted.contains(service) {
                let padded = service.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
                do {
                    let status = try await health.check(.with { $0.service = service.grpcName }, options: options).status
                    hostedAny = true
                    print("\(padded)\(Self.describe(status))")
                    healthy = healthy && status == .serving
                } catch let error as RPCError where error.code == .notFound {
                    print("\(padded)not hosted here")
                    // A service asked for by name must be there.
                    healthy = healthy && wanted.isEmpty
                }
            }
            return healthy && hostedAny
        }
        if !healthy {
            throw ExitCode(1)
        }
    }

    private static func describe(_ status: Grpc_Health_V1_HealthCheckResponse.ServingStatus) -> String {
        switch status {
        case .serving: "SERVING"
        case .notServing: "NOT_SERVING"
        case .serviceUnknown: "SERVICE_UNKNOWN"
        default: "UNKNOWN"
        }
    }
}
