using System.Diagnostics;
using BuildFarm.Store.Local;

namespace BuildFarm.Store.NixDb;

/// <summary>
/// Runs Nix's own <c>nix-store</c> against exactly this store, never through a daemon (the commands used here need
/// direct database access): <c>--store local</c> for <c>/nix/store</c>, <c>local?store=DIR&amp;state=…/var/nix</c> for
/// another store directory (as <c>NIX_STORE_DIR</c>/<c>NIX_STATE_DIR</c> would give).
/// </summary>
internal sealed class NixStoreCommand(string program, string storeDir)
{
    public string StoreUri => StoreUriFor(storeDir);

    public static string StoreUriFor(string storeDir) =>
        storeDir == "/nix/store" ? "local" : $"local?store={storeDir}&state={Path.GetDirectoryName(storeDir)}/var/nix";

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
