using System.CommandLine;
using BuildFarm.Store.Nar;

namespace BuildFarm.Cli.Store;

/// <summary>
/// <c>buildfarm store verify [--trusted-keys FILE] PATH…</c>: re-hashes each path on disk against its recorded NAR
/// hash and size and, with trusted keys, checks it carries a valid trusted signature. Exit 1 if any path fails,
/// with one line per problem on stderr.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create(CliGlobals globals)
    {
        var paths = new Argument<string[]>("paths") { Description = "Store paths", Arity = ArgumentArity.OneOrMore };
        var trustedKeys = new Option<string?>("--trusted-keys") { Description = "File of trusted public keys; without it signatures are not checked" };
        var command = new Command("verify", "Check store paths' contents against their NAR hashes, and their signatures") { paths, trustedKeys };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store verify", async () =>
        {
            var keysFile = result.GetValue(trustedKeys);
            var keys = keysFile is null ? null : await StoreCli.LoadTrustedKeysAsync(keysFile, cancellationToken);
            var store = await StoreCli.OpenAsync(globals, result, cancellationToken);
            var failed = 0;
            foreach (var path in StoreCli.ParsePaths(store, result.GetRequiredValue(paths)))
            {
                var problems = new List<string>();
                var info = await store.QueryPathInfoAsync(path, cancellationToken);
                if (info is null)
                {
                    problems.Add("not valid in the store");
                }
                else
                {
                    var physical = store.PhysicalPath(path);
                    if (!Path.Exists(physical) && new FileInfo(physical).LinkTarget is null)
                    {
                        problems.Add($"missing on disk ({physical})");
                    }
                    else
                    {
                        var (hash, size) = await NarHasher.HashPathAsync(physical, cancellationToken);
                        if (!hash.Equals(info.NarHash) || size != info.NarSize)
                            problems.Add($"contents changed: NAR hash on disk is {hash} ({size} bytes), recorded {info.NarHash} ({info.NarSize} bytes)");
                    }

                    if (keys is not null && keys.VerifyAny(info.Fingerprint, info.Signatures) is { IsValid: false } check)
                        problems.Add($"no valid trusted signature: {check.Reason}");
                }

                foreach (var problem in problems)
                    await result.InvocationConfiguration.Error.WriteLineAsync($"buildfarm store verify: {path}: {problem}");
                if (problems.Count == 0)
                    await result.InvocationConfiguration.Output.WriteLineAsync($"ok {path}");
                else
                    failed++;
            }

            if (keys is null)
                await result.InvocationConfiguration.Error.WriteLineAsync("buildfarm store verify: signatures not checked (no --trusted-keys)");
            return failed == 0 ? 0 : 1;
        }));
        return command;
    }
}
