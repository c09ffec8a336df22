namespace BuildFarm.Cli;

/// <summary>An error meant for the user: printed to stderr verbatim, exit code 1.</summary>
internal sealed class CliError(string message) : Exception(message);
