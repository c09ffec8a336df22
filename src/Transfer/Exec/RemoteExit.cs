namespace BuildFarm.Transfer.Exec;

/// <summary>How a remote command ended: its exit code (null if killed by a signal), the signal, and its stderr tail.</summary>
public sealed record RemoteExit(int? ExitCode, string? Signal, string Stderr)
{
    public bool Succeeded => ExitCode == 0;

    public string Describe() => ExitCode switch
    {
        0 => "exited 0",
        { } code => $"exited {code}",
        null when Signal is not null => $"was killed by signal {Signal}",
        null => "ended without an exit status",
    };
}
