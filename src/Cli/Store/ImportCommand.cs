using System.CommandLine;
using BuildFarm.Store.Archives;

namespace BuildFarm.Cli.Store;

/// <summary>
/// <c>buildfarm store import [--no-check-sigs] [--trusted-keys FILE]</c>: imports an archive of either form from
/// stdin, all or nothing, and prints the imported paths.
/// </summary>
internal static class ImportCommand
{
    public static Command Create(CliGlobals globals)
    {
        var noCheckSigs = new Option<bool>("--no-check-sigs") { Description = "Accept unsigned paths (NAR hashes are still checked)" };
        var trustedKeys = new Option<string?>("--trusted-keys") { Description = "File of trusted public keys (name:base64 per line); or $BUILDFARM_TRUSTED_KEYS" };
        var stallTimeout = new Option<int>("--stall-timeout")
        {
            Description = "Give up (deleting everything written) when stdin brings no byte for this many seconds (default 300)",
            DefaultValueFactory = _ => (int)ImportOptions.DefaultStallTimeout.TotalSeconds,
        };
        var command = new Command("import", "Import an archive (nix-store --export or BuildFarm's signed form) from stdin") { noCheckSigs, trustedKeys, stallTimeout };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store import", async () =>
        {
            var check = !result.GetValue(noCheckSigs);
            var keysFile = result.GetValue(trustedKeys) ?? Environment.GetEnvironmentVariable("BUILDFARM_TRUSTED_KEYS");
            if (check && keysFile is null)
                throw new CliError("every imported path must be signed by a trusted key: pass --trusted-keys FILE (or --no-check-sigs to accept unsigned paths)");
            var stall = result.GetValue(stallTimeout);
            if (stall < 1)
                throw new CliError($"--stall-timeout {stall} is invalid: must be at least 1 second");
            var keys = keysFile is null ? null : await StoreCli.LoadTrustedKeysAsync(keysFile, cancellationToken);
            var store = await StoreCli.OpenAnyAsync(globals, result, cancellationToken);
            await using var stdin = Console.OpenStandardInput();
            var imported = await ArchiveImporter.ImportAsync(store, stdin, new ImportOptions(keys, check, StallTimeout: TimeSpan.FromSeconds(stall)), cancellationToken);
            foreach (var path in imported)
                await result.InvocationConfiguration.Output.WriteLineAsync(path.FullPath);
            return 0;
        }));
        return command;
    }
}
