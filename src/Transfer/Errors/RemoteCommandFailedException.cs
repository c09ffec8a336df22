using BuildFarm.Transfer.Exec;

namespace BuildFarm.Transfer.Errors;

/// <summary>A remote command ran and exited non-zero (or by a signal). Not a transport failure: never retried.</summary>
public sealed class RemoteCommandFailedException(string origin, string command, RemoteExit exit, Exception? readerError = null)
    : Exception(
        $"On {origin}, '{command}' {exit.Describe()}"
            + (exit.Stderr.Length > 0 ? $": {exit.Stderr.Trim()}" : " (no stderr)")
            + (readerError is null ? "" : $" (reading its output: {readerError.Message})"),
        readerError)
{
    public string Origin { get; } = origin;

    public string Command { get; } = command;

    public RemoteExit Exit { get; } = exit;
}
