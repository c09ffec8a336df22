using System.CommandLine;
using BuildFarm.Store.Nar;

namespace BuildFarm.Cli.Store;

/// <summary><c>buildfarm store hash PATH</c>: the SHA-256 of PATH's NAR serialisation, like <c>nix-hash --type sha256</c>.</summary>
internal static class HashCommand
{
    public static Command Create(CliGlobals globals)
    {
        var path = new Argument<string>("path") { Description = "A store path (resolved under --root first) or any file system path" };
        var base32 = new Option<bool>("--base32") { Description = "Print only the nix32 digest, like nix-hash --base32" };
        var command = new Command("hash", "Print the NAR hash of a path as sha256:<nix32>") { path, base32 };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store hash", async () =>
        {
            var physical = CliPaths.ResolveExisting(globals.Layout(result), result.GetRequiredValue(path));
            var (hash, _) = NarHasher.HashPath(physical, cancellationToken);
            await result.InvocationConfiguration.Output.WriteLineAsync(result.GetValue(base32) ? hash.ToNix32() : hash.ToString());
            return 0;
        }));
        return command;
    }
}
