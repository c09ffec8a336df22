using System.Diagnostics;
using BuildFarm.Store.Local;

namespace BuildFarm.Store.NixDb;

/// <summary>
/// Runs Nix's own <c>nix-store</c> against exactly this store (<c>--store local</c>, or <c>local?root=R</c> for a
/// store under a physical root), never through a daemon: the commands used here need direct database access.
/// </summary>
internal sealed class NixStoreCommand(string program, string root)
{
    public string StoreUri => root.Length == 0 ? "local" : "local?root=" + root;

    /// <summary>Runs <c>nix-store --store URI ARGS</c> with <paramref name="stdin"/>; a non-zero exit is a <see cref="StoreException"/> naming the command and Nix's message.</summary>
    public async Task<string> RunAsync(IReadOnlyList<string> args, string stdin, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--store");
        start.ArgumentList.Add(StoreUri);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment.Remove("NIX_REMOTE");
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new StoreException($"cannot run '{program}' (Nix's nix-store, needed to register paths in the Nix store): {e.Message}", e);
        }

        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.StandardInput.WriteAsync(stdin.AsMemory(), cancellationToken);
            process.StandardInput.Close();
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Registration is one SQLite transaction inside nix-store: killing it leaves all or nothing valid.
            process.Kill(entireProcessTree: true);
            throw;
        }

        var output = await stdout;
        var error = (await stderr).Trim();
        if (process.ExitCode != 0)
            throw new StoreException($"'{program} --store {StoreUri} {string.Join(' ', args)}' failed (exit {process.ExitCode}): {error}");
        return output;
    }
}
