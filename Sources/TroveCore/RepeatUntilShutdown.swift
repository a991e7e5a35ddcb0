import ServiceLifecycle

/// Runs `body` now and then every `interval` until graceful shutdown (or cancellation): the loop
/// of the background services that sweep, compact or sample. A pass under way when shutdown
/// begins is cancelled like any task; work that must not be cut short holds a thread of its own.
public func repeatUntilShutdown(every interval: Duration, _ body: @escaping @Sendable () async -> Void) async {
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            await body()
            try? await Task.sleep(for: interval)
        }
    }
}
