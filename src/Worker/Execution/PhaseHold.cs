namespace BuildFarm.Worker.Execution;

/// <summary>
/// Test-only hook for fault injection (bench/soak): with <c>BUILDFARM_TEST_PHASE_HOLD_DIR</c> set, a worker named N
/// that reaches phase P while the file <c>DIR/N/hold-P</c> exists writes <c>DIR/N/at-P</c> (the derivation) and waits
/// until the hold file is gone (at most a minute), so a harness can kill it, or stop the broker or sshd, at exactly
/// that point. A hold file containing <c>mark</c> only writes the marker and goes on. Unset (every real farm), it
/// costs one null check.
/// </summary>
internal static class PhaseHold
{
    public const string Variable = "BUILDFARM_TEST_PHASE_HOLD_DIR";
    private static readonly TimeSpan MaxHold = TimeSpan.FromMinutes(1);
    private static string? _dir;

    /// <summary>Called once at start-up with the worker's name.</summary>
    public static void Configure(string workerName)
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } root)
            _dir = Path.Combine(root, workerName);
    }

    public static async Task AtAsync(string phase, string drvPath, CancellationToken cancellationToken)
    {
        if (_dir is not { } dir)
            return;
        var hold = Path.Combine(dir, "hold-" + phase);
        string content;
        try
        {
            content = await File.ReadAllTextAsync(hold, cancellationToken);
        }
        catch (IOException)
        {
            return;
        }

        var marker = Path.Combine(dir, "at-" + phase);
        await File.WriteAllTextAsync(marker + ".tmp", drvPath, cancellationToken);
        File.Move(marker + ".tmp", marker, overwrite: true);
        if (content.Trim() == "mark")
            return;
        var until = DateTime.UtcNow + MaxHold;
        while (File.Exists(hold) && DateTime.UtcNow < until)
            await Task.Delay(50, cancellationToken);
    }
}
