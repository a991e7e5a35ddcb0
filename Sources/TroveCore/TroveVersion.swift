/// The version of Trove this binary is, as `trove --version` and `GetSystemStatus` report it.
public enum TroveVersion {
    public static let current = "0.1.0-dev"
}
