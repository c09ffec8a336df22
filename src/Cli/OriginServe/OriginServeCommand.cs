using System.CommandLine;
using System.IO.Compression;

namespace BuildFarm.Cli.OriginServe;

/// <summary>
/// <c>buildfarm origin-serve</c>: the forced command of a worker's key in the origin's <c>authorized_keys</c>
/// (<c>command="buildfarm origin-serve --store-dir … --root …",restrict ssh-ed25519 …</c>). It reads the command the
/// worker asked for from <c>SSH_ORIGINAL_COMMAND</c>, lets through only the store commands workers run (see
/// <see cref="OriginServeRequest"/>) against the store named here, and runs them in this process: a stolen worker
/// key can read valid store paths and fill the quarantine, but gets no shell. Refusals exit 126 with nothing run.
/// </summary>
internal static class OriginServeCommand
{
    public const int RefusedExitCode = 126;

    /// <param name="globals">The global options (the store this key serves).</param>
    /// <param name="parse">
    /// Parses a request's arguments with the commands this process runs: the managed CLI's whole command set, or in
    /// the NativeAOT front its own (which takes only export requests, <see cref="OriginServeRequest.IsExport"/>).
    /// </param>
    public static Command Create(CliGlobals globals, Func<string[], ParseResult> parse)
    {
        var command = new Command(
            "origin-serve",
            "Forced command for workers' keys on the origin: run only the store command in $SSH_ORIGINAL_COMMAND that workers need (export, quarantine-serve, quarantine-put, --version), on this store");
        command.SetAction(async (result, cancellationToken) =>
        {
            var error = result.InvocationConfiguration.Error;
            var store = new OriginServeStore(globals.Layout(result), globals.IsNix(result), result.GetValue(globals.SigningKeyFile) ?? FarmEnv.Get("BUILDFARM_SIGNING_KEY_FILE"));
            var original = Environment.GetEnvironmentVariable("SSH_ORIGINAL_COMMAND");
            if (!OriginServeRequest.TryParse(original, store, out var request, out var problem))
            {
                await error.WriteLineAsync($"buildfarm origin-serve: refused: {problem}");
                return RefusedExitCode;
            }

            var parsed = parse([.. request!.Arguments]);
            if (!request.GzipStdout)
                return await parsed.InvokeAsync(result.InvocationConfiguration, cancellationToken);

            // The worker's RemoteGzip wrapper, done here instead of by a shell pipeline into gzip.
            await using var stdout = Console.OpenStandardOutput();
            await using var gzip = new GZipStream(stdout, CompressionLevel.Fastest, leaveOpen: true);
            await using var writer = new StreamWriter(gzip, leaveOpen: true);
            var exit = await parsed.InvokeAsync(new InvocationConfiguration { Output = writer, Error = error }, cancellationToken);
            await writer.FlushAsync(cancellationToken);
            return exit;
        });
        return command;
    }
}
