/// http-fanout serve-nio PORT | serve-hummingbird PORT | load PORT STREAMS RATE DURATION [SIZE]
let arguments = CommandLine.arguments
func argument(_ index: Int, _ fallback: String) -> String { arguments.count > index ? arguments[index] : fallback }
switch argument(1, "") {
case "serve-nio":
    try await NIOFanoutServer.run(port: Int(argument(2, "18080")) ?? 18080)
case "serve-hummingbird":
    try await HummingbirdFanoutServer.run(port: Int(argument(2, "18080")) ?? 18080)
case "load":
    try await FanoutLoad.run(port: Int(argument(2, "18080")) ?? 18080, streams: Int(argument(3, "1000")) ?? 1000,
                             rate: Double(argument(4, "100")) ?? 100, duration: Double(argument(5, "10")) ?? 10,
                             size: Int(argument(6, "600")) ?? 600)
default:
    print("usage: http-fanout serve-nio PORT | serve-hummingbird PORT | load PORT STREAMS RATE DURATION [SIZE]")
}
