/// The wait between tries of a remote request: exponential backoff with jitter, so clients
/// refused together do not come back together.
public struct RetryBackoff: Sendable {
    /// The ceiling of the wait before the first retry; it doubles for each one after.
    public var initial: Duration
    /// The highest ceiling.
    public var maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before retry `retry` (1, 2, …): initial × 2^(retry−1), capped at `maximum`, less
    /// up to half of it at random.
    public func delay(beforeRetry retry: Int) -> Duration {
        let ceiling = min(self.maximum, self.initial * (1 << min(max(retry, 1) - 1, 20)))
        return ceiling * Double.random(in: 0.5...1.0)
    }
}
