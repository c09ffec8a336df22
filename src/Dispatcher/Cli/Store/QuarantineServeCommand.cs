using System.CommandLine;
using BuildFarm.Store.Quarantine;

namespace BuildFarm.Dispatcher.Cli.Store;

/// <summary>
/// <c>buildfarm store quarantine-serve [--max-bytes B]</c>: quarantine-put for many uploads over one long-lived SSH
/// channel (<see cref="QuarantineProtocol"/>), so a worker returns each build's outputs without an exec, a login
/// shell and a process start per build. Each upload lands exactly as with quarantine-put.
/// </summary>
/// <remarks>
/// Delivery: <c>ok N</c> is written only after the quarantine file is complete and fsynced; the worker publishes
/// BuildSucceeded after reading it. On any error the reply is <c>error …</c> and the process exits 1 (an incomplete
/// upload leaves no file, its <c>.part</c> is deleted); if the channel drops mid-upload, the same happens.
/// </remarks>
internal static class QuarantineServeCommand
{
    public static Command Create(CliGlobals globals)
    {
        var maxBytes = new Option<long>("--max-bytes")
        {
            Description = "Refuse an archive larger than this many bytes (default 64 GiB)",
            DefaultValueFactory = _ => QuarantinePutCommand.DefaultMaxBytes,
        };
        var command = new Command("quarantine-serve", "Receive workers' signed output archives, one after another, over stdin (framed; see docs/offload.md)")
        {
            maxBytes,
        };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store quarantine-serve", async () =>
        {
            var max = result.GetValue(maxBytes);
            if (max < 1)
                throw new CliError($"--max-bytes {max} is invalid: must be at least 1");
            var quarantine = new OutputQuarantine(globals.Layout(result));
            await using var stdin = new BufferedStream(Console.OpenStandardInput(), 1 << 16);
            await using var stdout = Console.OpenStandardOutput();
            var error = await ServeAsync(quarantine, stdin, stdout, max, cancellationToken);
            if (error is null)
                return 0;
            await result.InvocationConfiguration.Error.WriteLineAsync($"buildfarm store quarantine-serve: {error}");
            return 1;
        }));
        return command;
    }

    /// <summary>Serves uploads until end of input (null) or the first error (its message, also sent as the reply).</summary>
    public static async Task<string?> ServeAsync(OutputQuarantine quarantine, Stream input, Stream output, long maxBytes, CancellationToken cancellationToken)
    {
        while (true)
        {
            string? reply = null;
            try
            {
                var line = await QuarantineProtocol.ReadLineAsync(input, cancellationToken);
                if (line is null)
                    return null;
                var (buildId, attempt) = QuarantineProtocol.ParsePut(line);
                var received = await quarantine.ReceiveAsync(buildId, attempt, new ChunkedReadStream(input), maxBytes, cancellationToken);
                if (received == 0)
                {
                    quarantine.Delete(buildId, attempt);
                    reply = $"the upload was empty: no archive received for build {buildId} attempt {attempt}";
                }
                else
                {
                    await output.WriteAsync(QuarantineProtocol.OkLine(received), cancellationToken);
                    await output.FlushAsync(cancellationToken);
                    continue;
                }
            }
            catch (Exception e) when (e is QuarantineProtocolException or IOException or UnauthorizedAccessException)
            {
                reply = e.Message;
            }

            try
            {
                await output.WriteAsync(QuarantineProtocol.ErrorLine(reply), cancellationToken);
                await output.FlushAsync(cancellationToken);
            }
            catch (IOException)
            {
                // The worker is gone; the exit status says the rest.
            }

            return reply;
        }
    }
}
