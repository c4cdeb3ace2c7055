import ArgumentParser
import StreamPipeline

/// Exit codes of every command (sysexits.h): usage 64, bad data 65, no input 66, I/O error 74, cannot create
/// output 73; 1 when some alert or message could not be delivered.
extension PipelineError {
    var exitCode: ExitCode {
        switch code {
        case .cannotOpenInput: ExitCode(66)
        case .readFailed: ExitCode(74)
        case .inputMismatch, .snapshotRefused: ExitCode(65)
        case .snapshotWriteFailed: ExitCode(73)
        case .invalidConfiguration: ExitCode(64)
        default: ExitCode(1)
        }
    }
}

/// Runs `body`; a ``PipelineError`` it throws is printed as `error: …` and becomes its exit code.
@discardableResult
func reportingPipelineErrors<Result>(_ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let error as PipelineError {
        Output.error("error: \(error)")
        throw error.exitCode
    }
}

/// Opens a command's FILE argument (`-`: stdin); a file that cannot be read exits 66.
func openInput(_ path: String) throws -> JSONLinesSource {
    try reportingPipelineErrors { try JSONLinesSource(path: path) }
}
