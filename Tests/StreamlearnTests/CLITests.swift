import Foundation
import OnlineLearning
import StreamCore
import KafkaRuntime
import StreamJobs
import StreamPipeline
import Simulation
import StreamKafka
import Testing

@Suite("streamlearn command line", .serialized)
struct CLITests {
    @Test("broker → produce → consume round trip through subprocesses")
    func brokerProduceConsume() throws {
        let broker = try BrokerProcess(["--broker-count", "2", "--topic", "cli-events:4", "--topic", "cli-json:1", "--bootstrap-file",
                                        FileManager.default.temporaryDirectory.appendingPathComponent("cli-bootstrap").path])
        #expect(broker.firstLine.hasPrefix("bootstrap=127.0.0.1:"))
        #expect(broker.bootstrap.split(separator: ",").count == 2)
        let written = try String(
            contentsOf: FileManager.default.temporaryDirectory.appendingPathComponent("cli-bootstrap"), encoding: .utf8)
        #expect(written == broker.bootstrap + "\n")

        let generated = try CLI.run(["generate", "transactions", "--events", "500", "--seed", "3"])
        #expect(generated.status == 0)
        var lines = generated.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 500)
        // One broken line and one without the key field, among the good ones.
        lines.insert("{\"id\": 9999, broken", at: 10)
        lines.insert("{\"amount\": 1.5}", at: 20)
        let input = lines.joined(separator: "\n") + "\n"

        let produced = try CLI.run(
            ["produce", "--brokers", broker.bootstrap, "--topic", "cli-events", "--key-field", "id", "-"], stdin: input)
        #expect(produced.status == 65, "invalid lines give EX_DATAERR: \(produced.stderr)")
        #expect(produced.stderr.contains("stdin:11: not valid JSON; not sent"))
        #expect(produced.stderr.contains("stdin:21: key field 'id' is missing or null; not sent"))
        #expect(produced.stderr.contains("produced 500 message(s)"))
        let producedJSON = try CLI.run(
            ["produce", "--brokers", broker.bootstrap, "--topic", "cli-json", "--key-field", "id", "--json", "-"], stdin: input)
        #expect(producedJSON.status == 65)
        let summary = try JSONSerialization.jsonObject(with: Data(producedJSON.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(summary["delivered"] as? Int == 500 && summary["invalid"] as? Int == 2, "\(producedJSON.stdout)")
        #expect(summary["undeliverable"] as? Int == 0 && summary["stopped_at"] is NSNull)

        let consumed = try CLI.run([
            "consume", "--brokers", broker.bootstrap, "--topic", "cli-events", "--group", "cli-group",
            "--from-beginning", "--max", "500", "--timeout", "20",
        ])
        #expect(consumed.status == 0, "\(consumed.stderr)")
        let received = consumed.stdout.split(separator: "\n").map(String.init)
        #expect(received.count == 500)
        #expect(Set(received) == Set(generated.stdout.split(separator: "\n").map(String.init)))

        // Offsets were committed after printing: the same group reads nothing more.
        let again = try CLI.run([
            "consume", "--brokers", broker.bootstrap, "--topic", "cli-events", "--group", "cli-group",
            "--from-beginning", "--timeout", "2",
        ])
        #expect(again.status == 0)
        #expect(again.stdout.isEmpty)
        #expect(again.stderr.contains("consumed 0 message(s)"))

        #expect(broker.stop() == 0, "SIGTERM stops the broker cleanly")
    }

    @Test("A consumer group can be used again on the embedded broker: each run reads what was produced since the last")
    func groupReused() throws {
        let broker = try BrokerProcess(["--topic", "reuse:4"])
        defer { _ = broker.stop() }
        var expected = 0
        for round in 1...2 {
            let lines = try CLI.run(["generate", "transactions", "--events", "100", "--seed", "\(round)"]).stdout
            #expect(try CLI.run(["produce", "--brokers", broker.bootstrap, "--topic", "reuse", "-"], stdin: lines).status == 0)
            expected = 100
            let consumed = try CLI.run(
                ["consume", "--brokers", broker.bootstrap, "--topic", "reuse", "--group", "g", "--from-beginning",
                 "--timeout", "3"], timeout: .seconds(60))
            #expect(consumed.status == 0, "round \(round): \(consumed.stderr)")
            #expect(consumed.stdout.split(separator: "\n").count == expected, "round \(round)")
            #expect(Set(consumed.stdout.split(separator: "\n")) == Set(lines.split(separator: "\n")), "round \(round)")
        }
    }

    @Test("produce accounts for every line when its broker dies mid-stream: the summary adds up, within --timeout")
    func produceBrokerDies() throws {
        let broker = try BrokerProcess(["--topic", "big:1"])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try CLI.run(["generate", "transactions", "--events", "300000", "--seed", "1", file]).status == 0)
        let pid = broker.process.processIdentifier
        let killer = Thread {
            Thread.sleep(forTimeInterval: 1.5)
            kill(pid, SIGKILL)
        }
        killer.start()
        let result = try CLI.run(["produce", "--brokers", broker.bootstrap, "--topic", "big", "--timeout", "5", file], timeout: .seconds(90))
        broker.process.waitUntilExit()
        let summary = try #require(result.stderr.split(separator: "\n").first { $0.hasPrefix("produced ") }, "\(result.stderr)")
        // "produced N message(s) to 'big'; invalid lines 0; undeliverable M[; stopped at line L, …]": every line read
        // is either delivered or undeliverable.
        let numbers = summary.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(numbers.count == 3 || numbers.count == 4, "\(summary)")
        let read = numbers.count == 4 ? numbers[3] : 300_000
        #expect(numbers[0] + numbers[2] == read, "\(summary)")
        #expect(result.status == (numbers[2] > 0 ? 1 : 0), "\(summary)")
    }

    @Test("consume exits 1 when its brokers go away mid-read and do not come back")
    func consumeBrokerDies() throws {
        let broker = try BrokerProcess(["--topic", "dying:1"])
        let lines = try CLI.run(["generate", "transactions", "--events", "50", "--seed", "4"]).stdout
        #expect(try CLI.run(["produce", "--brokers", broker.bootstrap, "--topic", "dying", "-"], stdin: lines).status == 0)
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["consume", "--brokers", broker.bootstrap, "--topic", "dying", "--group", "d", "--from-beginning", "--timeout", "6"]
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let errors = CLI.Reader(stderr.fileHandleForReading)
        // The 50 messages arrive (the first bytes on stdout), then the broker dies.
        _ = stdout.fileHandleForReading.readData(ofLength: 100)
        let output = CLI.Reader(stdout.fileHandleForReading)
        kill(broker.process.processIdentifier, SIGKILL)
        broker.process.waitUntilExit()
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        let text = errors.text()
        #expect(text.contains("consumed 50 message(s)"), "\(text)")
        // Which of the two it meets depends on when the broker died: idle, or committing.
        #expect(
            text.contains("error: the brokers went away and did not come back")
                || text.contains("error: committing offsets got no answer within"), "\(text)")
        _ = output.text()
    }

    @Test("Wrong arguments are usage errors with exit 64", arguments: [
        ["consume", "--topic", "t", "--group", "g"],
        ["broker", "--topic", "no-partitions"],
        ["broker", "--broker-count", "0"],
        ["produce", "--brokers", "b", "--topic", "t", "--timeout", "-1"],
        ["no-such-command"],
        ["consume", "--brokers", "b", "--topic", "t", "--group", "g", "--log-level", "loud"],
    ])
    func usageErrors(arguments: [String]) throws {
        let result = try CLI.run(arguments)
        #expect(result.status == 64)
        #expect(result.stderr.contains("Error") || result.stderr.contains("Usage"))
    }

    @Test("Unreachable brokers: consume and produce fail within the timeout with a clear message")
    func unreachableBrokers() throws {
        let consume = try CLI.run(
            ["consume", "--brokers", "127.0.0.1:1", "--topic", "t", "--group", "g", "--timeout", "1"],
            timeout: .seconds(30))
        #expect(consume.status == 1)
        #expect(consume.stderr.contains("no broker of '127.0.0.1:1' answered"))

        let produce = try CLI.run(
            ["produce", "--brokers", "127.0.0.1:1", "--topic", "t", "--timeout", "1", "-"], stdin: "{\"a\":1}\n",
            timeout: .seconds(30))
        #expect(produce.status == 1)
        #expect(produce.stderr.contains("no broker of '127.0.0.1:1' answered"))
    }

    @Test("A missing input file is named, exit 66")
    func missingInput() throws {
        let result = try CLI.run(["produce", "--brokers", "127.0.0.1:1", "--topic", "t", "/no/such/file.jsonl"])
        #expect(result.status == 66)
        #expect(result.stderr.contains("cannot read input file '/no/such/file.jsonl': No such file or directory"))
    }

    @Test("An input that fails while being read is named with the system's reason, exit 74")
    func inputFailsWhileRead() throws {
        // Linux refuses to read a process's own memory file from offset 0 (EIO), after opening it.
        let result = try CLI.run(["decode", "/proc/self/mem"])
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.contains("reading '/proc/self/mem' failed: Input/output error"), "\(result.stderr)")
    }

    @Test("decode counts accepted and rejected lines and names each rejection's line, byte and field")
    func decodeReportsRejections() throws {
        let input = """
            {"id":1,"amount":12.5,"country":"FR","label":0}
            {"id":2,"amount":1e999}

            {"id":3,"amount":1,"amount":2}
            not json
            {"id":4,"label":"yes"}
            {"id":5,"features":{"a":1}}

            """
        let text = try CLI.run(["decode", "-"], stdin: input)
        #expect(text.status == 65)
        #expect(text.stdout.contains("line 2: byte 17, field 'amount': number out of range (not finite)"))
        #expect(text.stdout.contains("line 4: byte 19, field 'amount': duplicate key"))
        #expect(text.stdout.contains("line 5: byte 0: invalid JSON"))
        #expect(text.stdout.contains("line 6: byte 16, field 'label': label must be 0, 1, true or false"))
        #expect(text.stdout.contains("accepted 2, rejected 4,"))

        let json = try CLI.run(["decode", "--json", "-"], stdin: input)
        #expect(json.status == 65)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["accepted"] as? Int == 2)
        #expect(object?["rejected"] as? Int == 4)
        #expect((object?["events_per_second"] as? Double ?? 0) > 0)
        let rejections = object?["rejections"] as? [[String: Any]] ?? []
        #expect(rejections.map { $0["line"] as? Int } == [2, 4, 5, 6])
        #expect(rejections.first?["reason"] as? String == "number out of range (not finite)")
        #expect(rejections.first?["byte"] as? Int == 17 && rejections.first?["field"] as? String == "amount")
        #expect(rejections.first?["message"] as? String == "byte 17, field 'amount': number out of range (not finite)")

        let generated = try CLI.run(["generate", "transactions", "--events", "300", "--seed", "4"])
        let clean = try CLI.run(["decode", "--json", "-"], stdin: generated.stdout)
        #expect(clean.status == 0)
        let cleanObject = try JSONSerialization.jsonObject(with: Data(clean.stdout.utf8)) as? [String: Any]
        #expect(cleanObject?["accepted"] as? Int == 300)
        #expect(cleanObject?["rejected"] as? Int == 0)

        let limited = try CLI.run(["decode", "--max-fields", "5", "-"], stdin: generated.stdout)
        #expect(limited.status == 65)
        #expect(limited.stdout.contains("more fields than the limit"))
        #expect(try CLI.run(["decode", "--max-fields", "0", "-"]).status == 64)
    }

    @Test("Input lines split as written: CRLF, blank lines, a line longer than the read buffer, no final newline")
    func lineSplitting() throws {
        let long = "{\"id\":3,\"s\":\"" + String(repeating: "x", count: 200_000) + "\"}"
        let input = "{\"id\":1,\"a\":1}\r\n\n   \t \n{\"id\":2,\"a\":2}\n" + long + "\n{\"id\":4,\"a\":\"x\"}\n"
            + "{\"id\":5,\"a\":1e999}\n{\"id\":6,\"a\":3}"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lines-\(getpid()).jsonl").path
        try input.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for source in [["-"], [path]] {
            let result = try CLI.run(["decode", "--json"] + source, stdin: source == ["-"] ? input : nil)
            #expect(result.status == 65)
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(object?["accepted"] as? Int == 4, "\(source)")
            let rejections = object?["rejections"] as? [[String: Any]] ?? []
            #expect(rejections.map { $0["line"] as? Int } == [5, 7], "\(source)")
            #expect((rejections.first?["reason"] as? String)?.contains("document larger than the limit") == true)
        }
    }

    @Test("Every command has help with an example")
    func helpHasExamples() throws {
        for command in [["broker"], ["produce"], ["consume"], ["decode"], ["learn"], ["generate", "transactions"],
                        ["generate", "logistic"], ["generate", "fraud"], ["simulate", "frozenlake"], ["simulate", "taxi"],
                        ["simulate", "cliffwalking"], ["simulate", "mdp"], ["simulate", "blackjack"], ["simulate", "mountaincar"], ["simulate", "cartpole"], ["simulate", "bandit"], ["evaluate"], ["drift"], ["snapshot", "list"], ["snapshot", "show"],
                        ["snapshot"], ["generate"], ["run"]] {
            let result = try CLI.run(command + ["--help"])
            #expect(result.status == 0)
            #expect(result.stdout.contains("streamlearn \(command[0])"), "\(command)")
            #expect(result.stdout.lowercased().contains("example"), "\(command)")
        }
    }

    @Test(
        "Every agent's defaults solve each environment for every seed 1–10",
        arguments: ["frozenlake", "taxi", "cliffwalking"])
    func defaultsHoldAcrossSeeds(environment: String) throws {
        for agent in ["qlearning", "sarsa", "expected-sarsa"] {
            let result = try CLI.run(
                ["simulate", environment, "--agent", agent, "--seed", "1", "--seed-count", "10", "--json"], timeout: .seconds(300))
            #expect(result.status == 0, "\(result.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
            let runs = object["runs"] as? [[String: Any]] ?? []
            #expect(runs.map { $0["seed"] as? Int } == Array(1...10), "\(environment) \(agent)")
            for run in runs {
                let success = run["eval_success_rate"] as? Double ?? 0
                let meanReturn = run["eval_mean_return"] as? Double ?? -.infinity
                let label = "\(environment) \(agent) seed \(run["seed"] ?? "?")"
                switch environment {
                case "frozenlake": #expect(success >= 0.70, "\(label): success \(success)")
                case "taxi":
                    // Every passenger delivered, in about the optimal number of steps (the optimum averages ~7.9).
                    #expect(success == 1 && meanReturn >= 7.5, "\(label): success \(success), return \(meanReturn)")
                default:
                    // The shortest path (−13) or, for the on-policy agents, the safe one (−17), as Sutton and Barto's 6.6.
                    #expect(success == 1 && meanReturn >= -17, "\(label): success \(success), return \(meanReturn)")
                }
            }
        }
    }

    @Test(
        "Long work shows a progress bar on a terminal's stderr, never in a pipe or with --quiet",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func progressBar() throws {
        let directory = try RunFiles.directory("progress")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("g.jsonl").path
        // `script` gives the command a terminal (util-linux): what it printed there comes back on stdout.
        func onTerminal(_ arguments: String) throws -> String {
            try CLI.run(
                ["-qfec", "\(CLI.executable.path) \(arguments)", "/dev/null"], timeout: .seconds(120),
                program: URL(fileURLWithPath: "/usr/bin/script")
            ).stdout
        }
        let shown = try onTerminal("generate fraud --events 300000 \(file)")
        #expect(shown.contains("generate  [") && shown.contains("/300,000 events") && shown.contains("ETA"), "\(shown.suffix(300))")
        let learned = try onTerminal("learn \(file)")
        #expect(learned.contains("learn  ") && learned.contains(" records  "), "\(learned.suffix(300))")
        #expect(learned.contains("roc_auc"), "the summary follows")
        #expect(!(try onTerminal("generate fraud --events 300000 --quiet \(file)")).contains("generate  ["))
        let piped = try CLI.run(["generate", "fraud", "--events", "300000", file])
        #expect(piped.status == 0 && piped.stderr.isEmpty, "\(piped.stderr)")
    }

    @Test("Every error is printed alike: 'error: ' and what is wrong, named; usage errors exit 64 with the usage line")
    func errorsAlike() throws {
        let unknown = try CLI.run(["learn", "--bogus"])
        #expect(unknown.status == 64 && unknown.stderr.hasPrefix("error: Unknown option '--bogus'"), "\(unknown.stderr)")
        #expect(unknown.stderr.contains("Usage: streamlearn learn"))
        let invalid = try CLI.run(["simulate", "bandit", "--seed-count", "0"])
        #expect(invalid.status == 64 && invalid.stderr.hasPrefix("error: --seed-count must be at least 1, got 0"), "\(invalid.stderr)")
        let missing = try CLI.run(["decode", "/no/such/file.jsonl"])
        #expect(missing.status == 66 && missing.stderr.hasPrefix("error: cannot read input file '/no/such/file.jsonl'"), "\(missing.stderr)")
        let help = try CLI.run(["decode", "--help"])
        #expect(help.status == 0 && help.stdout.hasPrefix("OVERVIEW:") && help.stderr.isEmpty)
    }

    @Test("Options that mean nothing alone are refused: a drift without its point, join and detector options without what they tune")
    func refusedAlone() throws {
        let concept = try CLI.run(["generate", "fraud", "--events", "10", "--drift", "concept"])
        #expect(concept.status == 64)
        #expect(concept.stderr.contains("--drift concept needs --drift-at"), "\(concept.stderr)")
        #expect(try CLI.run(["generate", "fraud", "--events", "10", "--drift-width", "100"]).status == 64)
        #expect(try CLI.run(["generate", "fraud", "--events", "10", "--drift-at", "5"]).status == 0)
        for (arguments, message) in [
            (["learn", "--no-join", "--join-capacity", "5", "-"], "error: --no-join excludes the other --join options"),
            (["learn", "--watch-after", "10", "-"], "error: --watch-after delays the model's detectors, and none is on"),
            (["learn", "--alert-timeout", "3", "-"], "error: --alert-timeout applies to --alerts-topic and --alertmanager"),
            (["drift", "--alert-timeout", "3", "-"], "error: --alert-timeout applies to --alerts-topic and --alertmanager"),
        ] {
            let result = try CLI.run(arguments, stdin: "")
            #expect(result.status == 64 && result.stderr.hasPrefix(message), "\(arguments): \(result.stderr)")
        }
    }

    @Test("generate transactions is byte-identical for a seed and about 180 bytes a line")
    func generatorDeterministic() throws {
        let first = try CLI.run(["generate", "transactions", "--events", "1000", "--seed", "11"])
        let second = try CLI.run(["generate", "transactions", "--events", "1000", "--seed", "11"])
        let other = try CLI.run(["generate", "transactions", "--events", "1000", "--seed", "12"])
        #expect(first.stdout == second.stdout)
        #expect(first.stdout != other.stdout)
        let lines = first.stdout.split(separator: "\n")
        #expect(lines.count == 1000)
        let average = lines.map(\.utf8.count).reduce(0, +) / lines.count
        #expect((160...200).contains(average))
        for line in lines.prefix(50) {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?.count == 21)  // id + 20 numeric fields
        }
    }

    @Test("learn replays a file with progressive validation and prints the metrics, as text or one JSON object")
    func learnSummary() throws {
        let stream = try CLI.run(["generate", "logistic", "--events", "20000", "--seed", "5"])
        #expect(stream.status == 0)
        let result = try CLI.run(["learn", "--json", "-"], stdin: stream.stdout)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        for key in ["events", "events_per_second", "f1", "precision", "recall", "roc_auc", "log_loss", "accuracy"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["events"] as? Int == 20_000)
        #expect(object["learned"] as? Int == 20_000)
        #expect((object["roc_auc"] as? Double ?? 0) > 0.88)
        #expect((object["f1"] as? Double ?? 0) > 0.6)

        let text = try CLI.run(["learn", "--optimizer", "ftrl", "--window", "500", "-"], stdin: stream.stdout)
        #expect(text.status == 0)
        #expect(text.stdout.contains("optimizer    ftrl"))
        #expect(text.stdout.contains("roc_auc      0.8") || text.stdout.contains("roc_auc      0.9"))
        #expect(text.stdout.contains("last 500"))

        // Bad lines are reported with their line numbers and never learned; a bad option names itself.
        let mixed = "{\"a\":1,\"label\":1}\n{\"a\":1e999,\"label\":0}\n{\"a\":2}\n"
        let partial = try CLI.run(["learn", "--json", "-"], stdin: mixed)
        #expect(partial.status == 65)
        #expect(partial.stderr.contains("line 2: rejected: byte 5, field 'a': number out of range"))
        let partialObject = try JSONSerialization.jsonObject(with: Data(partial.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(partialObject["learned"] as? Int == 1)
        #expect(partialObject["unlabeled"] as? Int == 1)
        #expect(partialObject["rejected"] as? Int == 1)
        let badRate = try CLI.run(["learn", "--learning-rate=-1", "-"])
        #expect(badRate.status == 64)
        #expect(badRate.stderr.contains("--learning-rate: must be positive, got -1.0"))
    }

    @Test("learn joins delayed labels: the model is the one a reference loop holding each event until its label learns")
    func learnJoinsLateLabels() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("join-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stream = try CLI.run(["generate", "fraud", "--events", "20000", "--seed", "3", "--label-delay", "200"]).stdout
        let saved = directory.appendingPathComponent("model.json").path
        let result = try CLI.run(["learn", "--json", "--hash-bits", "12", "--save-snapshot", saved, "-"], stdin: stream)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["events"] as? Int == 40_000)
        #expect(object["learned"] as? Int == 20_000)
        #expect(object["unlabeled"] as? Int == 0)
        let join = object["label_join"] as? [String: Int] ?? [:]
        #expect(join["label_lines"] == 20_000 && join["joined"] == 20_000)
        #expect(join["waiting"] == 0 && join["expired"] == 0 && join["orphans"] == 0 && join["duplicates"] == 0)

        // The reference: the classifier alone, holding each event's features and score until its label line.
        var features = FeatureSpaceConfiguration()
        features.hashBits = 12
        var model = LogisticRegressionConfiguration()
        model.hashBits = 12
        model.optimizer = .adaGrad(learningRate: 0.1, epsilon: 1e-8)
        var reference = try ProgressiveClassifier(features: features, model: model, window: nil)
        var held: [String: (FeatureVector, Double)] = [:]
        let decoder = EventDecoder()
        let event = DecodedEvent()
        for line in stream.split(separator: "\n") {
            try decoder.decode(Array(line.utf8), into: event)
            if let label = event.label {
                let waiting = held.removeValue(forKey: event.idString!)
                let (vector, score) = try #require(waiting)
                try reference.learn(vector, label: label != 0, score: score)
            } else {
                let score = try reference.score(event)
                held[event.idString!] = (reference.lastVector, score)
            }
        }
        let learned = try PipelineState.load(file: saved).state.classifier
        #expect(try Snapshot.encode(learned) == Snapshot.encode(reference))

        // Text shows the join; without joining, label lines are learned as featureless events (the old mistake).
        let text = try CLI.run(["learn", "--hash-bits", "12", "-"], stdin: stream)
        #expect(text.stdout.contains("labels       20000 joined, 0 waiting, 0 expired, 0 orphans, 0 duplicates"))
        let unjoined = try CLI.run(["learn", "--json", "--no-join", "--hash-bits", "12", "-"], stdin: stream)
        let unjoinedObject = try JSONSerialization.jsonObject(with: Data(unjoined.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(unjoinedObject["unlabeled"] as? Int == 20_000)
        #expect((unjoinedObject["roc_auc"] as? Double ?? 1) < (object["roc_auc"] as? Double ?? 0) - 0.1)
    }

    @Test("learn in two halves through a snapshot, or decoding inline, ends bit-identical to learning in one go")
    func learnSnapshotResume() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("learn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = try CLI.run(["generate", "logistic", "--events", "6000", "--seed", "9"]).stdout
            .split(separator: "\n", omittingEmptySubsequences: true)
        let whole = lines.joined(separator: "\n") + "\n"
        let first = lines.prefix(2_500).joined(separator: "\n") + "\n"
        let second = lines.dropFirst(2_500).joined(separator: "\n") + "\n"
        for optimizer in ["sgd", "adagrad", "ftrl"] {
            let oneGo = directory.appendingPathComponent("\(optimizer)-one.json").path
            let half = directory.appendingPathComponent("\(optimizer)-half.json").path
            let resumed = directory.appendingPathComponent("\(optimizer)-resumed.json").path
            let options = ["--optimizer", optimizer, "--window", "700", "--hash-bits", "12"]
            #expect(try CLI.run(["learn", "--save-snapshot", oneGo] + options + ["-"], stdin: whole).status == 0)
            #expect(try CLI.run(["learn", "--save-snapshot", half] + options + ["-"], stdin: first).status == 0)
            let continued = try CLI.run(
                ["learn", "--load-snapshot", half, "--save-snapshot", resumed, "--json", "-"], stdin: second)
            #expect(continued.status == 0, "\(continued.stderr)")
            let oneGoBytes = try SnapshotFiles.payload(oneGo)
            let resumedBytes = try SnapshotFiles.payload(resumed)
            #expect(oneGoBytes == resumedBytes, "\(optimizer): resumed snapshot differs from one-go snapshot")
            // Decoding on the calling thread instead of ahead on a second one changes nothing.
            let inline = directory.appendingPathComponent("\(optimizer)-inline.json").path
            #expect(try CLI.run(["learn", "--no-decode-ahead", "--save-snapshot", inline] + options + ["-"], stdin: whole).status == 0)
            #expect(try SnapshotFiles.payload(inline) == oneGoBytes, "\(optimizer): inline decoding differs")
            let object = try JSONSerialization.jsonObject(with: Data(continued.stdout.utf8)) as? [String: Any] ?? [:]
            #expect(object["learned"] as? Int == 6_000)  // the metrics came back with the snapshot
            #expect(object["optimizer"] as? String == optimizer)
        }
        // A damaged snapshot is refused with its path and reason.
        let damaged = directory.appendingPathComponent("damaged.json").path
        try Data("{\"format\":\"streamlearn-snapshot\"".utf8).write(to: URL(fileURLWithPath: damaged))
        let refused = try CLI.run(["learn", "--load-snapshot", damaged, "-"], stdin: first)
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("snapshot '\(damaged)' refused: has no header line (truncated?)"))
        // One format: a --save-snapshot file is a store file that `snapshot show` verifies, and --load-snapshot
        // reads a --snapshot-dir file as well.
        let half = directory.appendingPathComponent("sgd-half.json").path
        let shown = try CLI.run(["snapshot", "show", "--json", half])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])?["kind"] as? String == "pipeline-state")
        let store = directory.appendingPathComponent("store").path
        #expect(try CLI.run(["learn", "--snapshot-dir", store, "--optimizer", "sgd", "--window", "700", "--hash-bits", "12", "-"], stdin: first).status == 0)
        let fromStore = directory.appendingPathComponent("from-store.json").path
        let storeFile = store + "/snapshot-00000001.json"
        #expect(try CLI.run(["learn", "--load-snapshot", storeFile, "--save-snapshot", fromStore, "-"], stdin: second).status == 0)
        #expect(try SnapshotFiles.payload(fromStore) == SnapshotFiles.payload(directory.appendingPathComponent("sgd-one.json").path))
    }

    @Test("simulate trains with defaults that reach the solved levels, and reports a JSON summary")
    func simulateSolved() throws {
        func summary(_ arguments: [String]) throws -> [String: Any] {
            let result = try CLI.run(["simulate"] + arguments + ["--json"])
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        }
        let lake = try summary(["frozenlake"])
        #expect((lake["eval_success_rate"] as? Double ?? 0) >= 0.70)
        #expect(lake["episodes"] as? Int == 20_000)
        #expect((lake["steps_per_second"] as? Double ?? 0) > 0)
        #expect((lake["curve"] as? [[String: Any]])?.count == 10)
        let taxi = try summary(["taxi", "--eval-episodes", "100"])
        #expect((taxi["eval_mean_return"] as? Double ?? 0) >= 8)
        let cliff = try summary(["cliffwalking"])
        #expect(cliff["eval_mean_return"] as? Double == -13)
        let sarsa = try summary(["cliffwalking", "--agent", "sarsa", "--episodes", "300"])
        #expect(sarsa["agent"] as? String == "sarsa")
        #expect(try CLI.run(["simulate", "taxi", "--alpha", "2"]).stderr.contains("--alpha: must be in (0, 1], got 2.0"))
        #expect(try CLI.run(["simulate", "frozenlake", "--map", "SFX"]).status == 64)
    }

    @Test("simulate --dump-dynamics prints Gymnasium's P for every environment")
    func dumpDynamics() throws {
        for (environment, states, actions) in [("frozenlake", 16, 4), ("cliffwalking", 48, 4), ("taxi", 500, 6)] {
            let result = try CLI.run(["simulate", environment, "--dump-dynamics"])
            #expect(result.status == 0)
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
            #expect(object["n_states"] as? Int == states)
            #expect(object["n_actions"] as? Int == actions)
            let table = object["P"] as? [String: [String: [[Any]]]] ?? [:]
            #expect(table.count == states)
            #expect(table["0"]?.count == actions)
        }
        let eight = try CLI.run(["simulate", "frozenlake", "--map", "8x8", "--no-slippery", "--dump-dynamics"])
        let object = try JSONSerialization.jsonObject(with: Data(eight.stdout.utf8)) as? [String: Any] ?? [:]
        let cell = (object["P"] as? [String: [String: [[Any]]]])?["62"]?["2"]
        #expect(cell?.count == 1)
        #expect(cell?.first?[1] as? Int == 63)
        #expect(cell?.first?[2] as? Double == 1)
    }

    @Test("simulate bandit reports regret at 1k, 10k and N pulls")
    func simulateBandit() throws {
        let result = try CLI.run(["simulate", "bandit", "--arms", "10", "--policy", "ucb1", "--pulls", "20000", "--seed-count", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        let regret = object["regret"] as? [String: Double] ?? [:]
        #expect(Set(regret.keys) == ["1000", "10000", "20000"])
        #expect(regret["1000"]! < regret["10000"]! && regret["10000"]! < regret["20000"]!)
        #expect(object["policy"] as? String == "ucb1" && object["seed_count"] as? Int == 2 && object["seed"] as? Int == 1)
        #expect((object["pulls_per_second"] as? Double ?? 0) > 0)

        // N equal to a checkpoint, and the contextual policy.
        let linucb = try CLI.run(["simulate", "bandit", "--arms", "5", "--policy", "linucb", "--pulls", "10000", "--seed-count", "1", "--json"])
        #expect(linucb.status == 0, "\(linucb.stderr)")
        let linucbObject = try JSONSerialization.jsonObject(with: Data(linucb.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(Set((linucbObject["regret"] as? [String: Double] ?? [:]).keys) == ["1000", "10000"])
        // A non-stationary bandit: after the means are re-drawn, plain UCB1's regret grows faster than before.
        let shifted = try CLI.run(
            ["simulate", "bandit", "--policy", "ucb1", "--pulls", "20000", "--seed-count", "3", "--shift-at", "10000", "--json"])
        let shiftedRegret = (try JSONSerialization.jsonObject(with: Data(shifted.stdout.utf8)) as? [String: Any])?["regret"]
            as? [String: Double] ?? [:]
        let stationaryRegret = (try JSONSerialization.jsonObject(
            with: Data(try CLI.run(["simulate", "bandit", "--policy", "ucb1", "--pulls", "20000", "--seed-count", "3", "--json"]).stdout.utf8))
            as? [String: Any])?["regret"] as? [String: Double] ?? [:]
        #expect(shiftedRegret["20000"]! - shiftedRegret["10000"]! > 1.5 * (stationaryRegret["20000"]! - stationaryRegret["10000"]!))
        #expect(try CLI.run(["simulate", "bandit", "--shift-at", "5", "--bandit", "gaussian"]).status == 64)
        let short = try CLI.run(["simulate", "bandit", "--policy", "exp3", "--pulls", "500", "--seed-count", "1"])
        #expect(short.status == 0)
        #expect(short.stdout.contains("regret after     500 pulls"))
    }

    @Test("simulate bandit refuses, with exit 64 and the reason, every option its policy or testbed would ignore")
    func simulateBanditRefusesIgnoredOptions() throws {
        let cases: [([String], String)] = [
            (["--policy", "thompson", "--epsilon", "2"], "--epsilon applies to --policy epsilon-greedy, not thompson"),
            (["--policy", "epsilon-greedy", "--epsilon", "2"], "--epsilon must be in [0, 1], got 2.0"),
            (["--policy", "exp3", "--discount", "0.9"], "--discount applies to epsilon-greedy, ucb1 and thompson, not exp3"),
            (["--policy", "linucb", "--discount", "0.9"], "--discount applies to epsilon-greedy, ucb1 and thompson, not linucb"),
            (["--policy", "linucb", "--shift-at", "100", "--pulls", "1000"], "--shift-at does not apply to linucb"),
            (["--policy", "linucb", "--bandit", "gaussian"], "--bandit does not apply to linucb"),
            (["--policy", "ucb1", "--shift-at", "20000", "--pulls", "1000"], "--shift-at 20000 is past the last pull (--pulls 1000)"),
        ]
        for (arguments, message) in cases {
            let result = try CLI.run(["simulate", "bandit", "--seed-count", "1", "--pulls", "1000"] + arguments)
            #expect(result.status == 64, "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        // What each policy does use is still accepted.
        for arguments in [["--policy", "epsilon-greedy", "--epsilon", "0.2", "--discount", "0.99"], ["--policy", "thompson", "--shift-at", "500"]] {
            let result = try CLI.run(["simulate", "bandit", "--seed-count", "1", "--pulls", "1000"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
    }

    /// `agent,seed,series,x,value` rows of a `--curves` CSV.
    static func curveRows(_ path: String) throws -> [(agent: String, seed: Int, series: String, x: Double, value: Double)] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.first == "agent,seed,series,x,value")
        return lines.dropFirst().map { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            return (cells[0], Int(cells[1]) ?? -1, cells[2], Double(cells[3]) ?? .nan, Double(cells[4]) ?? .nan)
        }
    }

    @Test("simulate --curves: each seed's curve (any seed count, every --curve-every) and its evaluation; bandits with the arm means they played, set by --arm-means")
    func curvesExported() throws {
        let directory = try RunFiles.directory("curves")
        defer { try? FileManager.default.removeItem(at: directory) }
        let lake = directory.appendingPathComponent("lake.csv").path
        let trained = try CLI.run(["simulate", "frozenlake", "--episodes", "2000", "--seed-count", "3", "--curve-every", "500", "--curves", lake, "--json"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let rows = try Self.curveRows(lake)
        #expect(Set(rows.map(\.seed)) == [1, 2, 3])
        #expect(rows.filter { $0.seed == 2 && $0.series == "training_mean_return" }.map(\.x) == [500, 1000, 1500, 2000])
        let summary = try JSONSerialization.jsonObject(with: Data(trained.stdout.utf8)) as? [String: Any] ?? [:]
        for run in summary["runs"] as? [[String: Any]] ?? [] {
            let seed = run["seed"] as? Int ?? 0
            let greedy = rows.first { $0.seed == seed && $0.series == "greedy_success_rate" }
            #expect(greedy?.value == run["eval_success_rate"] as? Double && greedy?.x == 2000, "seed \(seed)")
        }

        let bandit = directory.appendingPathComponent("bandit.csv").path
        let arguments = ["simulate", "bandit", "--policy", "thompson", "--pulls", "2000", "--seed-count", "2", "--arm-means", "0.1,0.5,0.9", "--curves", bandit, "--curve-every", "500", "--json"]
        let played = try CLI.run(arguments)
        #expect(played.status == 0, "\(played.stderr)")
        let first = try String(contentsOfFile: bandit, encoding: .utf8)
        let banditRows = try Self.curveRows(bandit)
        #expect(banditRows.filter { $0.seed == 1 && $0.series == "regret" }.map(\.x) == [500, 1000, 1500, 2000])
        #expect(banditRows.filter { $0.series.hasPrefix("arm_mean") }.map(\.value) == [0.1, 0.5, 0.9, 0.1, 0.5, 0.9])
        let object = try JSONSerialization.jsonObject(with: Data(played.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["arms"] as? Int == 3)
        for run in object["runs"] as? [[String: Any]] ?? [] {
            let seed = run["seed"] as? Int ?? 0
            let final = (run["regret"] as? [String: Double])?["2000"]
            #expect(final != nil && banditRows.first { $0.seed == seed && $0.series == "regret" && $0.x == 2000 }?.value == final)
            #expect(((run["arm_means"] as? [[String: Any]])?.first?["means"] as? [Double]) == [0.1, 0.5, 0.9])
        }
        _ = try CLI.run(arguments)
        #expect(try String(contentsOfFile: bandit, encoding: .utf8) == first, "the same seeds write the same file")

        for (refused, message) in [
            (["simulate", "bandit", "--arm-means", "0.1,2"], "--arm-means: a Bernoulli mean is in [0, 1], got 2.0"),
            (["simulate", "bandit", "--arm-means", "0.1,0.2", "--arms", "3"], "--arm-means gives 2 means, --arms is 3"),
            (["simulate", "bandit", "--arm-means", "0.1,x"], "--arm-means must be numbers separated by commas"),
            (["simulate", "bandit", "--arm-means", "0.1,0.2", "--shift-at", "10"], "--arm-means and --shift-at"),
            (["simulate", "bandit", "--curves", "out.txt"], "--curves must name a .csv or .json file"),
            (["simulate", "bandit", "--curve-every", "10"], "--curve-every sets the points of --curves FILE, which is missing"),
            (["simulate", "frozenlake", "--seed-count", "2", "--curve-every", "500"], "write the curves with --curves FILE"),
        ] {
            let result = try CLI.run(refused)
            #expect(result.status == 64 && result.stderr.contains(message), "\(refused): \(result.stderr)")
        }
    }

    @Test("Policies kept: simulate --save-policy, a reinforcement job's snapshot and a published policy are played by evaluate; a policy for another environment is refused")
    func policiesKept() throws {
        let directory = try RunFiles.directory("policies")
        defer { try? FileManager.default.removeItem(at: directory) }
        let saved = directory.appendingPathComponent("lake.policy").path
        let trained = try CLI.run(["simulate", "frozenlake", "--seed", "3", "--save-policy", saved, "--json"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let training = try JSONSerialization.jsonObject(with: Data(trained.stdout.utf8)) as? [String: Any] ?? [:]
        // simulate evaluates seed S's agent with the environment seeded S + 1,000,003: the same episodes again.
        let replayed = try CLI.run(["evaluate", saved, "frozenlake", "--seed", "1000006", "--json"])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        let evaluation = try JSONSerialization.jsonObject(with: Data(replayed.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(evaluation["mean_return"] as? Double == training["eval_mean_return"] as? Double, "\(evaluation) \(training)")
        #expect(evaluation["holds"] as? String == "a qlearning agent")
        #expect(try CLI.run(["snapshot", "show", saved]).stdout.contains("holds       tabular-agent"))

        let wrong = try CLI.run(["evaluate", saved, "taxi"])
        #expect(wrong.status == 65 && wrong.stderr.contains("the policy has 16 states, taxi has 500"), "\(wrong.stderr)")
        #expect(try CLI.run(["evaluate", directory.appendingPathComponent("none").path, "taxi"]).status == 66)
        #expect(try CLI.run(["simulate", "taxi", "--seed-count", "2", "--save-policy", saved]).status == 64)

        // A published policy, as `consume` prints the policy topic (the last line counts).
        let published = try RunFiles.write(
            #"{"model":"lake","model_version":1,"greedy_actions":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}"# + "\n"
                + #"{"model":"lake","model_version":2,"greedy_actions":[0,3,3,3,0,0,0,0,3,1,0,0,0,2,1,0]}"# + "\n",
            to: directory, "policy.jsonl")
        let fromTopic = try CLI.run(["evaluate", published, "frozenlake", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(fromTopic.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["holds"] as? String == "a published policy (model_version 2)", "\(fromTopic.stderr)")
        #expect((object["success_rate"] as? Double ?? 0) > 0.6, "the optimal 4x4 policy succeeds about 0.74 of the time")

        // A reinforcement job's snapshot.
        let broker = try EmbeddedBroker(topics: [("rl-requests", 1), ("rl-transitions", 1), ("rl-actions", 1), ("rl-dead", 1)])
        defer { broker.close() }
        var environment = try Environments.frozenLake()
        var lines: [String] = []
        var state = environment.reset(seed: 1)
        for step in 0..<3_000 {
            let action = step % 4
            let result = try environment.step(action)
            lines.append(#"{"state":\#(state),"action":\#(action),"reward":\#(result.reward),"next_state":\#(result.observation),"terminated":\#(result.terminated),"truncated":\#(result.truncated)}"#)
            state = result.terminated || result.truncated ? environment.reset(seed: nil) : result.observation
        }
        try Topics.produce(broker, "rl-transitions", lines)
        let snapshots = directory.appendingPathComponent("snapshots").path
        let config = try RunFiles.write(
            """
            job: reinforcement
            name: rl
            topics: {requests: rl-requests, transitions: rl-transitions, decisions: rl-actions, dead_letter: rl-dead}
            model: {algorithm: qlearning, states: 16, actions: 4}
            snapshots: {directory: \(snapshots)}
            """, to: directory, "rl.yaml")
        #expect(try RunProcess.toIdle(config, brokers: broker.bootstrapServers).status == 0)
        let snapshot = try #require(try SnapshotStore(directory: snapshots).newestGood().entry?.path)
        let fromJob = try CLI.run(["evaluate", snapshot, "frozenlake"])
        #expect(fromJob.status == 0 && fromJob.stdout.contains("a reinforcement job's qlearning agent after 3000 updates"), "\(fromJob.stdout)\(fromJob.stderr)")
    }

    @Test("MountainCar's defaults solve it on every seed 1–10 (greedy mean return ≥ −140 over 100 episodes); the kept agent replays the same; tile options are checked")
    func mountainCarDefaults() throws {
        let result = try CLI.run(["simulate", "mountaincar", "--seed-count", "10", "--eval-episodes", "100", "--json"], timeout: .seconds(300))
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        let runs = object["runs"] as? [[String: Any]] ?? []
        #expect(runs.map { $0["seed"] as? Int } == Array(1...10))
        for run in runs {
            #expect((run["eval_mean_return"] as? Double ?? -.infinity) >= -140, "seed \(run["seed"] ?? "?"): \(run)")
        }

        let directory = try RunFiles.directory("car-policy")
        defer { try? FileManager.default.removeItem(at: directory) }
        let saved = directory.appendingPathComponent("car.policy").path
        let trained = try CLI.run(["simulate", "mountaincar", "--seed", "4", "--episodes", "200", "--save-policy", saved, "--json"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let training = try JSONSerialization.jsonObject(with: Data(trained.stdout.utf8)) as? [String: Any] ?? [:]
        let replayed = try CLI.run(["evaluate", saved, "mountaincar", "--seed", "1000007", "--episodes", "1000", "--json"])
        let evaluation = try JSONSerialization.jsonObject(with: Data(replayed.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(evaluation["mean_return"] as? Double == training["eval_mean_return"] as? Double, "\(evaluation) \(training) \(replayed.stderr)")
        #expect(evaluation["holds"] as? String == "a tile-coded qlearning agent")
        let wrong = try CLI.run(["evaluate", saved, "cartpole"])
        #expect(wrong.status == 65 && wrong.stderr.contains("the agent has 2 observation values and 3 actions, the environment 4 and 2"), "\(wrong.stderr)")
        #expect(try CLI.run(["evaluate", saved, "taxi"]).stderr.contains("a tile-coded policy, taxi has discrete states"))

        for (arguments, message) in [
            (["--tilings", "0"], "--tilings: must be in 1...1024, got 0"),
            (["--epsilon-schedule", "inverse-visits"], "inverse-visits schedules count visits to states"),
            (["--dump-dynamics"], "mountaincar has continuous states, so no transition table"),
        ] {
            let refused = try CLI.run(["simulate", "mountaincar"] + arguments)
            #expect(refused.status == 64 && refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
        }
        let pole = try CLI.run(["simulate", "cartpole", "--episodes", "50", "--sutton-barto-reward", "--json"])
        let poleObject = try JSONSerialization.jsonObject(with: Data(pole.stdout.utf8)) as? [String: Any] ?? [:]
        // Sutton and Barto's reward: 0 a step, −1 when the pole falls; a greedy return is −1 or 0 (the 500 steps held).
        #expect((-1...0).contains(poleObject["eval_mean_return"] as? Double ?? 1), "\(poleObject) \(pole.stderr)")
    }

    @Test("Blackjack's defaults learn a policy that loses about 5 cents a hand (the best fixed strategy about 4; a uniform one about 40), which evaluate replays")
    func blackjackDefaults() throws {
        let directory = try RunFiles.directory("blackjack")
        defer { try? FileManager.default.removeItem(at: directory) }
        let saved = directory.appendingPathComponent("hands.policy").path
        // A quarter of the default 2,000,000 hands (the defaults reach −0.043 ± 0.002 over seeds 1–5, release).
        let result = try CLI.run(["simulate", "blackjack", "--seed", "2", "--episodes", "500000", "--eval-episodes", "100000", "--save-policy", saved, "--json"], timeout: .seconds(300))
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        let meanReturn = object["eval_mean_return"] as? Double ?? -1
        #expect(meanReturn >= -0.08 && meanReturn <= -0.02, "\(object)")
        #expect((0.40...0.45).contains(object["eval_success_rate"] as? Double ?? 0), "a won hand is a success: \(object)")
        let replayed = try CLI.run(["evaluate", saved, "blackjack", "--seed", "1000005", "--episodes", "100000", "--json"])
        let evaluation = try JSONSerialization.jsonObject(with: Data(replayed.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(evaluation["mean_return"] as? Double == meanReturn, "\(evaluation) \(replayed.stderr)")
        let dump = try CLI.run(["simulate", "blackjack", "--dump-dynamics"])
        #expect(dump.status == 64 && dump.stderr.contains("blackjack's dynamics depend on more than the state"), "\(dump.stderr)")
    }

    @Test("simulate's ε and α schedules: each runs with its own options and refuses the others'")
    func simulateSchedules() throws {
        func run(_ extra: [String]) throws -> [String: Any] {
            let result = try CLI.run(["simulate", "frozenlake", "--episodes", "3000", "--seed", "2", "--json"] + extra)
            #expect(result.status == 0, "\(extra): \(result.stderr)")
            return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        }
        let constant = try run([])
        let meanOfTargets = try run(["--alpha-schedule", "inverse-visits"])
        let decaying = try run(["--alpha-schedule", "exponential", "--alpha", "0.5", "--alpha-end", "0.01", "--alpha-rate", "0.999", "--epsilon-schedule", "exponential", "--epsilon-rate", "0.999"])
        let steps = [constant, meanOfTargets, decaying].map { $0["steps"] as? Int ?? 0 }
        #expect(Set(steps).count == 3, "each schedule learns (and so acts) differently: \(steps)")
        for (arguments, message) in [
            (["--epsilon-rate", "0.9"], "--epsilon-rate applies to --epsilon-schedule exponential"),
            (["--epsilon-schedule", "exponential"], "--epsilon-schedule exponential needs --epsilon-rate"),
            (["--epsilon-schedule", "inverse-visits", "--epsilon-end", "0.1"], "do not apply to --epsilon-schedule inverse-visits"),
            (["--alpha-schedule", "inverse-visits", "--alpha", "0.5"], "--alpha does not apply to --alpha-schedule inverse-visits"),
            (["--alpha-schedule", "linear"], "--alpha-schedule linear needs --alpha-end"),
            (["--alpha-end", "0.1"], "do not apply to --alpha-schedule constant"),
        ] {
            let result = try CLI.run(["simulate", "frozenlake"] + arguments)
            #expect(result.status == 64 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    @Test("simulate mdp: a dumped table loads back and trains exactly as the environment it came from; a broken one is refused naming the entry")
    func ownEnvironments() throws {
        let directory = try RunFiles.directory("mdp")
        defer { try? FileManager.default.removeItem(at: directory) }
        // The same α and γ as each environment's defaults (simulate mdp has its own).
        for (environment, options) in [("frozenlake", ["--alpha", "0.05"]), ("taxi", ["--alpha", "0.2"]), ("cliffwalking", ["--alpha", "0.5", "--gamma", "1"])] {
            let dump = try CLI.run(["simulate", environment, "--dump-dynamics"])
            let file = try RunFiles.write(dump.stdout, to: directory, "\(environment).json")
            let common = ["--episodes", "1500", "--seed", "4", "--json"] + options
            let original = try CLI.run(["simulate", environment] + common)
            let loaded = try CLI.run(["simulate", "mdp", file] + common)
            #expect(loaded.status == 0, "\(environment): \(loaded.stderr)")
            func figures(_ result: CLI.Result) throws -> [String] {
                let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
                return try ["steps", "eval_mean_return", "eval_success_rate", "curve"].map { key in
                    String(decoding: try JSONSerialization.data(withJSONObject: object[key] ?? NSNull(), options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
                }
            }
            #expect(try figures(original) == figures(loaded), "\(environment): the same runs")
        }
        let broken = try RunFiles.write(#"{"n_states": 2, "n_actions": 1, "P": {"0": {"0": [[0.5, 1, 0, false]]}, "1": {"0": [[1, 1, 0, true]]}}}"#, to: directory, "broken.json")
        let refused = try CLI.run(["simulate", "mdp", broken])
        #expect(refused.status == 65 && refused.stderr.contains("P.0.0: probabilities sum to 0.5, not 1"), "\(refused.stderr)")
        let outside = try RunFiles.write(#"{"n_states": 2, "n_actions": 1, "P": {"0": {"0": [[1, 7, 0, false]]}, "1": {"0": [[1, 1, 0, true]]}}}"#, to: directory, "outside.json")
        #expect(try CLI.run(["simulate", "mdp", outside]).stderr.contains("P.0.0[0] next_state is 7, outside 0..<2"))
        #expect(try CLI.run(["simulate", "mdp", directory.appendingPathComponent("none.json").path]).status == 66)
        // Gymnasium's options: three outcomes a move in the rain and on slippery cliffs.
        for (arguments, state) in [(["taxi", "--rainy"], "0"), (["cliffwalking", "--slippery"], "36")] {
            let dump = try CLI.run(["simulate"] + arguments + ["--dump-dynamics"])
            let object = try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any] ?? [:]
            let outcomes = ((object["P"] as? [String: Any])?[state] as? [String: Any])?["0"] as? [[Any]]
            #expect(outcomes?.count == 3, "\(arguments): \(outcomes ?? [])")
        }
    }

    @Test("FrozenLake 8x8's defaults solve seed 4, where 100,000 episodes at α 0.1 reach a greedy success of 0.53 only")
    func frozenLake8x8Defaults() throws {
        let result = try CLI.run(["simulate", "frozenlake", "--map", "8x8", "--seed", "4", "--json"], timeout: .seconds(300))
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["episodes"] as? Int == 200_000)
        #expect((object["eval_success_rate"] as? Double ?? 0) >= 0.78, "\(object["eval_success_rate"] ?? "?")")
    }

    @Test("generate streams: lines reach a pipe while it is still generating, the first ones as a short run writes them")
    func generateStreams() throws {
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["generate", "logistic", "--events", "50000000", "--seed", "7", "-"]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        _ = CLI.ignoreBrokenPipe
        try process.run()
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        // Whole lines of the first mebibyte, while 50M events (about 14 GB) are far from done.
        let chunk = stdout.fileHandleForReading.readData(ofLength: 1 << 16)
        #expect(process.isRunning)
        let lines = String(decoding: chunk, as: UTF8.self).split(separator: "\n").dropLast()
        #expect(lines.count > 100)
        let short = try CLI.run(["generate", "logistic", "--events", "\(lines.count)", "--seed", "7"]).stdout
        #expect(short.split(separator: "\n").elementsEqual(lines))
    }

    @Test("generate fraud is byte-identical for a seed; drift and label delay options shape the stream")
    func generateFraud() throws {
        let first = try CLI.run(["generate", "fraud", "--events", "2000", "--seed", "3"])
        #expect(first.status == 0)
        #expect(first.stdout == (try CLI.run(["generate", "fraud", "--events", "2000", "--seed", "3"])).stdout)
        #expect(first.stdout.split(separator: "\n").count == 2000)
        let delayed = try CLI.run(["generate", "fraud", "--events", "2000", "--seed", "3", "--label-delay", "50"])
        let lines = delayed.stdout.split(separator: "\n")
        #expect(lines.count == 4000)
        #expect(lines.filter { $0.hasPrefix("{\"id\":") && $0.contains("\"label\"") && !$0.contains("amount") }.count == 2000)
        // Abrupt drift leaves the events before it untouched and changes the ones after.
        let drifted = try CLI.run(
            ["generate", "fraud", "--events", "2000", "--seed", "3", "--drift-at", "1000", "--drift", "covariate"])
        let driftedLines = drifted.stdout.split(separator: "\n")
        let plainLines = first.stdout.split(separator: "\n")
        #expect(driftedLines.prefix(1000) == plainLines.prefix(1000))
        #expect(driftedLines[1000] != plainLines[1000])
        #expect(try CLI.run(["generate", "fraud", "--drift", "sideways"]).status == 64)
        #expect(try CLI.run(["generate", "fraud", "--label-delay", "-1"]).status == 64)
    }

    @Test("drift replays a stream through PSI: quiet before an abrupt covariate shift, critical within one window after")
    func driftCommand() throws {
        let stream = try CLI.run(
            ["generate", "fraud", "--events", "40000", "--seed", "6", "--drift-at", "20000", "--drift", "covariate"]).stdout
        let result = try CLI.run(
            ["drift", "--features", "amount,country,hour", "--reference", "5000", "--window", "5000", "--step", "2500",
             "--json", "-"], stdin: stream)
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try result.stdout.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        // Evaluations at end = 10,000, 12,500, …, 40,000 for each of the three features.
        #expect(rows.count == 3 * 13)
        for row in rows {
            for key in ["feature", "start", "end", "psi", "state"] { #expect(row[key] != nil, "missing \(key)") }
            #expect((row["end"] as! Int) - (row["start"] as! Int) == 5_000)
        }
        for feature in ["amount", "country", "hour"] {
            let mine = rows.filter { $0["feature"] as? String == feature }
            #expect(mine.filter { ($0["end"] as! Int) <= 20_000 }.allSatisfy { $0["state"] as? String == "ok" })
            let critical = mine.first { $0["state"] as? String == "critical" }
            #expect((critical?["end"] as? Int ?? .max) <= 25_000, "\(feature): \(String(describing: critical))")
        }
        // Prometheus gauges of the latest PSI per feature, and alert counters, in the text format.
        let metrics = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).prom").path
        defer { try? FileManager.default.removeItem(atPath: metrics) }
        let withMetrics = try CLI.run(
            ["drift", "--features", "amount", "--reference", "5000", "--window", "5000", "--json", "--metrics-file", metrics,
             "--model-name", "fraud", "-"], stdin: stream)
        let last = try JSONSerialization.jsonObject(with: Data(withMetrics.stdout.split(separator: "\n").last!.utf8)) as? [String: Any]
        let exposition = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(exposition.contains("# TYPE streamlearn_drift_psi gauge"))
        #expect(exposition.contains("streamlearn_drift_psi{model=\"fraud\",feature=\"amount\"} \(last?["psi"] as! Double)"))
        #expect(exposition.contains("streamlearn_alerts_total{model=\"fraud\",kind=\"drift.psi\",state=\"firing\"} 1"))
        // --alerts-stdout: stdout carries only alerts; the evaluation rows move to stderr.
        let onStdout = try CLI.run(
            ["drift", "--features", "amount", "--reference", "5000", "--window", "5000", "--alerts-stdout", "-"], stdin: stream)
        let alertLines = onStdout.stdout.split(separator: "\n")
        #expect(!alertLines.isEmpty)
        #expect(try alertLines.allSatisfy {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["kind"] as? String == "drift.psi"
        })
        #expect(onStdout.stderr.contains("amount               [5000, 10000)  psi "))
        let text = try CLI.run(["drift", "--features", "amount", "--reference", "5000", "--window", "5000", "-"], stdin: stream)
        #expect(text.stdout.contains("amount               [5000, 10000)  psi "))
        #expect(text.stdout.contains("7 evaluations of 1 features, 1 alerts, 0 rejected lines"))
        #expect(try CLI.run(["drift", "--bins", "1", "-"]).stderr.contains("--bins: must be 2…1000, got 1"))
    }

    @Test("drift says which features it never evaluated and why; one odd first value does not hide a feature")
    func driftNamesUnwatched() throws {
        let stream = try CLI.run(
            ["generate", "fraud", "--events", "40000", "--seed", "6", "--drift-at", "20000", "--drift", "covariate"]).stdout
        let options = ["--reference", "5000", "--window", "5000", "--step", "2500", "--json"]
        let missing = try CLI.run(["drift", "--features", "nosuch,amount"] + options + ["-"], stdin: stream)
        #expect(missing.status == 65)
        #expect(missing.stderr.contains("error: feature 'nosuch' was never evaluated: it is in no event (of 40000 read)"))
        #expect(!missing.stderr.contains("'amount' was never"))
        let short = try CLI.run(["drift", "--features", "amount", "--reference", "50000", "-"], stdin: stream)
        #expect(short.status == 65)
        #expect(short.stderr.contains("feature 'amount' was never evaluated: 40000 events observed since its first value"))
        // A string first: the feature restarts as numeric and the drift in it is still found.
        let odd = try CLI.run(["drift", "--features", "amount"] + options + ["-"], stdin: "{\"id\":-1,\"amount\":\"x\"}\n" + stream)
        #expect(odd.status == 0, "\(odd.stderr)")
        #expect(odd.stderr.contains("note: feature 'amount' began with a value of another kind; watched as numeric"))
        #expect(odd.stdout.contains("\"state\":\"critical\""))
        // Every line rejected is not a clean run.
        #expect(try CLI.run(["drift", "-"], stdin: "nonsense\n{\n").status == 65)
    }

    @Test("Exit codes and messages: a directory is no input (66), a bad --snapshot-dir says why (73), negative values name their option, a failed --save-snapshot keeps the summary, control characters stay on one line")
    func exitCodes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("exits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for command in [["decode"], ["learn"], ["drift"]] {
            let result = try CLI.run(command + [directory.path])
            #expect(result.status == 66, "\(command)")
            #expect(result.stderr.contains("it is a directory"), "\(command)")
        }
        let stream = try CLI.run(["generate", "logistic", "--events", "500", "--seed", "2"]).stdout
        let plain = directory.appendingPathComponent("plain").path
        try Data().write(to: URL(fileURLWithPath: plain))
        let badStore = try CLI.run(["learn", "--snapshot-dir", plain + "/store", "-"], stdin: stream)
        #expect(badStore.status == 73)
        #expect(badStore.stderr.contains("error: snapshot directory '\(plain)/store': cannot create it: \(plain)/store: Not a directory"), "\(badStore.stderr)")
        let negative = try CLI.run(["drift", "--window", "-1", "-"])
        #expect(negative.status == 64)
        #expect(negative.stderr.contains("--window: must be at least 1, got -1"))
        let unsaved = try CLI.run(["learn", "--save-snapshot", plain + "/model.json", "-"], stdin: stream)
        #expect(unsaved.status == 73)
        #expect(unsaved.stdout.contains("events       500 (500 learned"))
        #expect(unsaved.stderr.contains("cannot write snapshot '\(plain)/model.json'"))
        let control = try CLI.run(["decode", "-"], stdin: "{\"a\\nb\":1e999}\n")
        #expect(control.stdout.contains("line 1: byte 8, field 'a\\nb': number out of range (not finite)\n"))
        // Every snapshot of a store corrupt: no "using an older one".
        let store = directory.appendingPathComponent("store").path
        #expect(try CLI.run(["learn", "--snapshot-dir", store, "-"], stdin: stream).status == 0)
        for file in try FileManager.default.contentsOfDirectory(atPath: store) where file.hasPrefix("snapshot-") {
            try Data("{}\n{}".utf8).write(to: URL(fileURLWithPath: store + "/" + file))
        }
        let noneGood = try CLI.run(["learn", "--resume", store, "--continue", "-"], stdin: stream)
        #expect(noneGood.status == 66)
        #expect(noneGood.stderr.contains("no usable snapshot in '\(store)'"))
        #expect(!noneGood.stderr.contains("using an older one"))
    }

    @Test("learn keeps durable snapshots; --resume continues from the newest good one bit for bit, skipping a corrupt one")
    func learnSnapshotStore() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("events.jsonl").path
        #expect(try CLI.run(["generate", "logistic", "--events", "5000", "--seed", "4", input]).status == 0)
        let store = directory.appendingPathComponent("store").path
        let oneGo = directory.appendingPathComponent("one-go.json").path
        let resumed = directory.appendingPathComponent("resumed.json").path
        let options = ["--hash-bits", "12", "--window", "300"]
        #expect(try CLI.run(["learn", "--save-snapshot", oneGo] + options + [input]).status == 0)

        // A run that stops at line 3,000 (its input is the first 3,000 lines, under the same name): periodic
        // snapshots before lines 1,000, 2,000 and 3,000, and one at the end.
        let whole = try String(contentsOfFile: input, encoding: .utf8)
        let first = whole.split(separator: "\n").prefix(3_000).joined(separator: "\n") + "\n"
        try first.write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try CLI.run(["learn", "--snapshot-dir", store, "--snapshot-every", "1000"] + options + [input]).status == 0)
        try whole.write(toFile: input, atomically: true, encoding: .utf8)
        let list = try CLI.run(["snapshot", "list", "--json", store])
        let rows = try list.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(rows.map { $0["reason"] as? String } == ["shutdown", "periodic", "periodic", "periodic"])
        let show = try CLI.run(["snapshot", "show", "--json", store + "/snapshot-00000004.json"])
        let shown = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(shown["kind"] as? String == "pipeline-state")
        let position = ((shown["positions"] as? [[String: Any]])?.first?["file"] as? [String: Any]) ?? [:]
        #expect(position["line"] as? Int == 3_000)
        #expect(position["path"] as? String == input)
        #expect(position["byte_offset"] as? Int == first.utf8.count)

        // Resuming from the end-of-run snapshot and reading the whole file gives the one-go state, byte for byte.
        let continued = try CLI.run(["learn", "--resume", store, "--save-snapshot", resumed, "--json", input])
        #expect(continued.status == 0, "\(continued.stderr)")
        #expect(try SnapshotFiles.payload(oneGo) == SnapshotFiles.payload(resumed))
        // The file is recognised by its content, not by how its path is spelt: the same file under another
        // spelling resumes at the same byte; another file, or a shortened one, is refused with the reason.
        let respelt = directory.path + "/./" + (input as NSString).lastPathComponent
        #expect(try CLI.run(["learn", "--resume", store, "--save-snapshot", resumed, respelt]).status == 0)
        #expect(try SnapshotFiles.payload(oneGo) == SnapshotFiles.payload(resumed))
        let short = directory.appendingPathComponent("short.jsonl").path
        try (whole.split(separator: "\n").prefix(2_000).joined(separator: "\n") + "\n").write(toFile: short, atomically: true, encoding: .utf8)
        let shortened = try CLI.run(["learn", "--resume", store, short])
        #expect(shortened.status == 65)
        #expect(shortened.stderr.contains("shorter than the"), "\(shortened.stderr)")
        let other = directory.appendingPathComponent("other.jsonl").path
        #expect(try CLI.run(["generate", "logistic", "--events", "5000", "--seed", "5", other]).status == 0)
        let different = try CLI.run(["learn", "--resume", store, other])
        #expect(different.status == 65)
        #expect(different.stderr.contains("does not start with the"), "\(different.stderr)")
        // Stdin has no positions: refused with exit 64, unless --continue.
        let piped = try CLI.run(["learn", "--resume", store, "-"], stdin: whole)
        #expect(piped.status == 64)
        #expect(piped.stderr.contains("stdin has no positions to resume from"))

        // Corrupt the newest snapshot (one flipped byte): it is refused by name and the previous one (before line
        // 3,000) is used, which ends in the same state.
        let newest = store + "/snapshot-00000004.json"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: newest))
        bytes[bytes.count - 3] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: newest))
        let fallback = try CLI.run(["learn", "--resume", store, "--save-snapshot", resumed, "--json", input])
        #expect(fallback.status == 0)
        #expect(fallback.stderr.contains("snapshot '\(newest)' refused: checksum mismatch"))
        #expect(try SnapshotFiles.payload(oneGo) == SnapshotFiles.payload(resumed))
        #expect(try CLI.run(["snapshot", "list", store]).stdout.contains("snapshot-00000004.json  REFUSED: checksum mismatch"))
        #expect(try CLI.run(["snapshot", "show", newest]).status == 65)

        // The detectors travel with the model: stopping and resuming a watched run ends in the same state
        // (references, windows, alert states included) as running it in one go.
        let watched = ["--f1-window", "500", "--score-psi-window", "500", "--input-psi-window", "500", "--adwin"] + options
        let storeOneGo = directory.appendingPathComponent("store-one-go").path
        let storeSplit = directory.appendingPathComponent("store-split").path
        #expect(try CLI.run(["learn", "--snapshot-dir", storeOneGo] + watched + [input]).status == 0)
        try first.write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try CLI.run(["learn", "--snapshot-dir", storeSplit] + watched + [input]).status == 0)
        try whole.write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try CLI.run(["learn", "--resume", storeSplit, "--snapshot-dir", storeSplit] + watched + [input]).status == 0)
        func payload(_ store: String) throws -> Data {
            let newestFile = try FileManager.default.contentsOfDirectory(atPath: store).filter { $0.hasPrefix("snapshot-") }.max()!
            return try SnapshotFiles.payload(store + "/" + newestFile)
        }
        let oneGoPayload = try payload(storeOneGo)
        #expect(oneGoPayload == (try payload(storeSplit)))
        #expect(String(decoding: oneGoPayload, as: UTF8.self).contains("\"f1Tracker\""))
        #expect(String(decoding: oneGoPayload, as: UTF8.self).contains("\"inputs\""))
    }

    @Test("learn --input-psi-window watches every dense input: quiet before an abrupt covariate shift, critical within one window after")
    func learnWatchesInputs() throws {
        let stream = try CLI.run(
            ["generate", "fraud", "--events", "40000", "--seed", "6", "--drift-at", "20000", "--drift", "covariate"]).stdout
        let result = try CLI.run(["learn", "--input-psi-window", "5000", "--alerts-stdout", "-"], stdin: stream)
        #expect(result.status == 0, "\(result.stderr)")
        let alerts = try result.stdout.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        // Windows overlapping the drift only (evaluations every 2,500 events from end = 10,000).
        #expect(!alerts.isEmpty)
        for alert in alerts {
            let window = alert["window"] as? [String: Int] ?? [:]
            #expect(alert["kind"] as? String == "drift.psi" && alert["state"] as? String == "firing")
            #expect((window["end"] ?? 0) > 20_000, "\(alert)")
        }
        for feature in ["amount", "hour", "distance_km"] {
            let critical = alerts.first { $0["feature"] as? String == feature && $0["severity"] as? String == "critical" }
            #expect(((critical?["window"] as? [String: Int])?["end"] ?? .max) <= 25_000, "\(feature)")
        }
        // Ids and timestamps are not features, so never watched.
        #expect(!alerts.contains { ["id", "ts", "label"].contains($0["feature"] as? String ?? "") })
    }

    @Test("SIGTERM stops learn while it waits on a pipe: a shutdown snapshot at the last line, exit 0, and --resume ends bit-identical")
    func learnStopsOnSignal() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("events.jsonl").path
        #expect(try CLI.run(["generate", "logistic", "--events", "5000", "--seed", "9", input]).status == 0)
        let oneGo = directory.appendingPathComponent("one-go.json").path
        let resumed = directory.appendingPathComponent("resumed.json").path
        let store = directory.appendingPathComponent("store").path
        let options = ["--hash-bits", "12", "--f1-window", "300", "--score-psi-window", "300"]
        #expect(try CLI.run(["learn", "--save-snapshot", oneGo] + options + [input]).status == 0)

        // The first 3,000 lines go down a pipe that stays open: learn waits for more when the signal comes.
        let lines = try String(contentsOfFile: input, encoding: .utf8).split(separator: "\n")
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["learn", "--snapshot-dir", store, "--snapshot-every", "1000"] + options + ["-"]
        let stdin = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        _ = CLI.ignoreBrokenPipe
        try process.run()
        let errors = CLI.Reader(stderr.fileHandleForReading)
        try stdin.fileHandleForWriting.write(contentsOf: Data((lines.prefix(3_000).joined(separator: "\n") + "\n").utf8))
        // The periodic snapshot before line 3,000 shows that learn has reached the last line it was given.
        let deadline = ContinuousClock.now + .seconds(60)
        while SnapshotFiles.count(in: store) < 3 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(SnapshotFiles.count(in: store) == 3)
        Thread.sleep(forTimeInterval: 0.3)
        process.terminate()
        let stopDeadline = ContinuousClock.now + .seconds(20)
        while process.isRunning && ContinuousClock.now < stopDeadline { Thread.sleep(forTimeInterval: 0.02) }
        let stopped = !process.isRunning
        #expect(stopped, "learn did not stop within 20 s of SIGTERM")
        if !stopped { kill(process.processIdentifier, SIGKILL) }
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        #expect(errors.text().contains("SIGTERM: stopped after line 3000; state saved in '\(store)/snapshot-00000004.json'"))
        let show = try CLI.run(["snapshot", "show", "--json", store + "/snapshot-00000004.json"])
        let shown = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(shown["reason"] as? String == "shutdown")
        let position = ((shown["positions"] as? [[String: Any]])?.first?["file"] as? [String: Any]) ?? [:]
        #expect(position["line"] as? Int == 3_000 && position["path"] as? String == "stdin")

        // Continuing from it with the rest of the stream ends where one go does.
        let continued = try CLI.run(
            ["learn", "--resume", store, "--continue", "--save-snapshot", resumed] + options + ["-"],
            stdin: lines.dropFirst(3_000).joined(separator: "\n") + "\n")
        #expect(continued.status == 0, "\(continued.stderr)")
        #expect(try SnapshotFiles.payload(oneGo) == SnapshotFiles.payload(resumed))
    }

    @Test("learn watches its own F1 and score PSI: concept drift raises alerts within two windows, each critical one with a snapshot")
    func learnRaisesAlerts() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("alerts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stream = try CLI.run(
            ["generate", "fraud", "--events", "50000", "--seed", "3", "--drift-at", "30000", "--drift", "concept"]).stdout
        let file = directory.appendingPathComponent("alerts.jsonl").path
        let store = directory.appendingPathComponent("store").path
        let metrics = directory.appendingPathComponent("metrics.prom").path
        let result = try CLI.run(
            ["learn", "--positive-weight", "10", "--f1-window", "5000", "--score-psi-window", "5000",
             "--alerts-file", file, "--snapshot-dir", store, "--model-name", "fraud", "--metrics-file", metrics, "--json", "-"],
            stdin: stream)
        let exposition = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(exposition.contains("streamlearn_drift_f1{model=\"fraud\"} "))
        #expect(exposition.contains("streamlearn_drift_f1_baseline{model=\"fraud\"} "))
        #expect(exposition.contains("streamlearn_drift_psi{model=\"fraud\",feature=\"score\"} "))
        #expect(result.status == 0, "\(result.stderr)")
        let alerts = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        let f1 = alerts.filter { $0["kind"] as? String == "drift.f1" }
        let firstF1 = try #require(f1.first)
        #expect(firstF1["state"] as? String == "firing")
        let window = firstF1["window"] as? [String: Int] ?? [:]
        #expect(window["start"]! >= 25_000 && window["end"]! <= 30_000 + 2 * 5_000, "\(window)")
        // No alert of either kind before the drift.
        #expect(alerts.allSatisfy { ($0["window"] as? [String: Int])?["end"] ?? 0 > 30_000 })
        // Every critical firing names a snapshot that verifies and holds the classifier.
        for alert in alerts where alert["severity"] as? String == "critical" && alert["state"] as? String == "firing" {
            let snapshot = try #require(alert["snapshot"] as? String)
            let shown = try CLI.run(["snapshot", "show", "--json", snapshot])
            #expect(shown.status == 0)
            let object = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any] ?? [:]
            #expect(object["kind"] as? String == "pipeline-state")
            #expect(object["reason"] as? String == "alert:\(alert["id"] as! String)")
        }
        let summary = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(summary["alerts"] as? Int == alerts.count)

        // The optional change detectors on the error stream report as alerts of their own kinds.
        let changes = directory.appendingPathComponent("changes.jsonl").path
        let watched = try CLI.run(
            ["learn", "--positive-weight", "10", "--adwin", "--page-hinkley", "--alerts-file", changes, "-"], stdin: stream)
        #expect(watched.status == 0)
        let kinds = try String(contentsOfFile: changes, encoding: .utf8).split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["kind"] as? String ?? ""
        }
        #expect(kinds.contains("drift.adwin") && kinds.contains("drift.page-hinkley"))
    }
}

/// Snapshot files of a store directory, counted from the outside.
enum SnapshotFiles {
    /// A snapshot file's payload (the state), without its header line (which dates it).
    static func payload(_ path: String) throws -> Data {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let newline = data.firstIndex(of: UInt8(ascii: "\n")) else { return data }
        return data[(newline + 1)...]
    }

    static func count(in directory: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("snapshot-") && $0.hasSuffix(".json") }.count
    }
}
