namespace BuildFarm.Cli;

/// <summary>An error meant for the user: printed to stderr verbatim, exit code 1.</summary>
internal sealed class CliError(string message) : Exception(message)
{
    /// <summary>The dispatcher could not be reached or did not answer (it may be restarting), as opposed to refusing.</summary>
    public bool Unreachable { get; init; }
}
