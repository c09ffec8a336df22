using System.Diagnostics;

namespace BuildFarm.Hook.Farm;

/// <summary>Which of some store paths are not valid in the daemon's store (the hook's last check before exit 0).</summary>
public interface IStoreValidity
{
    Task<IReadOnlyList<string>> InvalidAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken);
}

/// <summary>
/// Asks Nix itself: <c>nix-store --check-validity --print-invalid</c> reads the same database the daemon does (the
/// hook runs as the daemon's user), without taking the output locks the daemon holds while we run.
/// </summary>
public sealed class NixStoreValidity(string nixStore = "nix-store") : IStoreValidity
{
    public async Task<IReadOnlyList<string>> InvalidAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        if (paths.Count == 0)
            return [];
        var start = new ProcessStartInfo(nixStore) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("--check-validity");
        start.ArgumentList.Add("--print-invalid");
        foreach (var p in paths)
            start.ArgumentList.Add(p);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {nixStore}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new IOException($"{nixStore} --check-validity failed ({process.ExitCode}): {(await stderr).Trim()}");
        return (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
