using System.CommandLine;
using BuildFarm.Store.Archives;

namespace BuildFarm.Cli.Store;

/// <summary>
/// <c>buildfarm store export [--signed] [--closure] PATH…</c>: an archive on stdout, references first. Without
/// <c>--signed</c> it is byte-for-byte what <c>nix-store --export</c> writes; with it, BuildFarm's signed form.
/// </summary>
internal static class ExportCommand
{
    public static Command Create(CliGlobals globals)
    {
        var paths = new Argument<string[]>("paths") { Description = "Valid store paths", Arity = ArgumentArity.OneOrMore };
        var signed = new Option<bool>("--signed") { Description = "Write the signed form (NAR hashes and signatures per path; see docs/archive-format.md)" };
        var closure = new Option<bool>("--closure") { Description = "Export the paths' whole closure" };
        var command = new Command("export", "Write an archive of store paths to stdout (like nix-store --export)") { paths, signed, closure };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store export", async () =>
        {
            var store = await StoreCli.OpenAsync(globals, result, cancellationToken);
            var selected = StoreCli.ParsePaths(store, result.GetRequiredValue(paths));
            var options = new ExportOptions(result.GetValue(signed) ? ArchiveFormat.BuildFarmSigned : ArchiveFormat.NixExport, result.GetValue(closure));
            var (stdout, owned) = await StoreCli.OpenBinaryOutputAsync(result, cancellationToken);
            try
            {
                await ArchiveWriter.ExportAsync(store, selected, stdout, options, cancellationToken);
            }
            finally
            {
                if (owned)
                    await stdout.DisposeAsync();
            }

            return 0;
        }));
        return command;
    }
}
