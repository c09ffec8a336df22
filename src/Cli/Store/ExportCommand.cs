using System.CommandLine;
using BuildFarm.Store.Archives;
using BuildFarm.Transfer.Fetch;

namespace BuildFarm.Cli.Store;

/// <summary>
/// <c>buildfarm store export [--signed] [--closure] PATH…</c>: an archive on stdout, references first. Without
/// <c>--signed</c> it is byte-for-byte what <c>nix-store --export</c> writes; with it, BuildFarm's signed form, each
/// path also signed as it is written by <c>--signing-key-file</c> when given (how an origin serves its workers:
/// paths imported unsigned, or straight from <c>/nix/store</c> with <c>--nix</c>, need no separate signing step).
/// The Nix form hashes every NAR on the way out and aborts on a path whose files no longer match the store's record
/// (<c>nix-store --import</c> would record the hash of whatever it reads). The signed form leaves that to its
/// importer, which hashes every NAR against the signed hash and size written before it and refuses the whole archive
/// on a mismatch, naming the path: hashing here too cost a third of the export's CPU in every input pull
/// (docs/PERFORMANCE.md). <c>--verify</c> hashes anyway; <c>store verify</c> checks a store without exporting.
/// </summary>
internal static class ExportCommand
{
    public static Command Create(CliGlobals globals)
    {
        var paths = new Argument<string[]>("paths") { Description = "Valid store paths", Arity = ArgumentArity.OneOrMore };
        var signed = new Option<bool>("--signed") { Description = "Write the signed form (NAR hashes and signatures per path; see docs/archive-format.md)" };
        var closure = new Option<bool>("--closure") { Description = "Export the paths' whole closure" };
        var verify = new Option<bool>("--verify")
        {
            Description = "With --signed: also hash every NAR on the way out and abort on one that no longer matches the store's record (the importer checks each NAR against its signed hash either way; the Nix form always does this)",
        };
        var command = new Command("export", "Write an archive of store paths to stdout (like nix-store --export)") { paths, signed, closure, verify };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store export", async () =>
        {
            var store = await StoreCli.OpenAnyAsync(globals, result, cancellationToken);
            var selected = StoreCli.ParsePaths(store, result.GetRequiredValue(paths));
            foreach (var path in selected)
            {
                if (!await store.IsValidAsync(path, cancellationToken))
                {
                    // A distinct status: a worker fetching inputs fails the build at once instead of retrying.
                    await result.InvocationConfiguration.Error.WriteLineAsync($"buildfarm store export: path '{path}' is not valid in the store at {store.Layout.PhysicalStoreDir}");
                    return MissingInputException.OriginExitCode;
                }
            }

            var key = await StoreCli.LoadSigningKeyAsync(globals, result, cancellationToken);
            if (key is not null && !result.GetValue(signed))
                throw new CliError("--signing-key-file signs the signed form only: add --signed (nix-store --export's form carries no signatures)");
            var isSigned = result.GetValue(signed);
            var options = new ExportOptions(
                isSigned ? ArchiveFormat.BuildFarmSigned : ArchiveFormat.NixExport, result.GetValue(closure), key, SynchronousOutput: true,
                VerifyContents: !isSigned || result.GetValue(verify));
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
