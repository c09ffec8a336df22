using System.CommandLine;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Quarantine;

namespace BuildFarm.Cli.Store;

/// <summary>
/// <c>buildfarm store quarantine-put --build GUID --attempt N [--max-bytes B]</c>: what a worker runs on the origin
/// over SSH to return a build's outputs. Streams stdin (the worker's signed archive) into the attempt's quarantine
/// file (<see cref="OutputQuarantine"/>: <c>.part</c> file, fsync, rename) and prints the bytes received. Nothing is
/// checked or imported here: the dispatcher imports the file with the trusted worker keys.
/// </summary>
/// <remarks>
/// Delivery: exit 0 means the file is complete and durable; the worker publishes BuildSucceeded only after that.
/// If the connection drops mid-stream, only a <c>.part</c> file remains (deleted here, or by the next receive).
/// </remarks>
internal static class QuarantinePutCommand
{
    public static Command Create(CliGlobals globals)
    {
        var build = new Option<string>("--build") { Description = "The build's id (a GUID)", Required = true };
        var attempt = new Option<int>("--attempt") { Description = "The attempt number (1 or more)", Required = true };
        var maxBytes = new Option<long>("--max-bytes")
        {
            Description = "Refuse an archive larger than this many bytes (default 64 GiB)",
            DefaultValueFactory = _ => QuarantineReceiver.DefaultMaxBytes,
        };
        var command = new Command("quarantine-put", "Receive a worker's signed archive of a build's outputs on stdin into the quarantine")
        {
            build, attempt, maxBytes,
        };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store quarantine-put", async () =>
        {
            var buildText = result.GetValue(build) ?? "";
            if (!Guid.TryParse(buildText, out var buildId))
                throw new CliError($"--build '{buildText}' is not a GUID (e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301)");
            var n = result.GetValue(attempt);
            if (n < 1)
                throw new CliError($"--attempt {n} is invalid: attempts start at 1");
            var max = result.GetValue(maxBytes);
            if (max < 1)
                throw new CliError($"--max-bytes {max} is invalid: must be at least 1");
            var quarantine = new OutputQuarantine(globals.Layout(result));
            await using var stdin = Console.OpenStandardInput();
            var received = await quarantine.ReceiveAsync(buildId, n, stdin, max, cancellationToken, ImportOptions.DefaultStallTimeout);
            if (received == 0)
            {
                quarantine.Delete(buildId, n);
                throw new CliError($"stdin was empty: no archive received for build {buildId} attempt {n}");
            }

            await result.InvocationConfiguration.Output.WriteLineAsync(received.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return 0;
        }));
        return command;
    }
}
