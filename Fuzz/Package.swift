// swift-tools-version:6.1
// The libFuzzer build of Trove's fuzz targets, kept out of the main package because every
// target it builds is instrumented. Run through Scripts/fuzz.sh.
import PackageDescription

let package = Package(
    name: "TroveFuzz",
    dependencies: [.package(name: "Trove", path: "..")],
    targets: [
        .executableTarget(
            name: "trove-fuzz",
            dependencies: [.product(name: "TroveFuzzTargets", package: "Trove")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
