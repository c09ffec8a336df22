using System.CommandLine;
using BuildFarm.Store.Quarantine;

namespace BuildFarm.Cli.Store;

/// <summary>
/// <c>buildfarm store quarantine-serve [--max-bytes B]</c>: quarantine-put for many uploads over one long-lived SSH
/// channel, so a worker returns each build's outputs without an exec, a login shell and a process start per build.
/// The receiving loop and its delivery guarantees are <see cref="QuarantineReceiver"/>'s.
/// </summary>
internal static class QuarantineServeCommand
{
    public static Command Create(CliGlobals globals)
    {
        var maxBytes = new Option<long>("--max-bytes")
        {
            Description = "Refuse an archive larger than this many bytes (default 64 GiB)",
            DefaultValueFactory = _ => QuarantineReceiver.DefaultMaxBytes,
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
            var error = await QuarantineReceiver.ServeAsync(quarantine, stdin, stdout, max, cancellationToken);
            if (error is null)
                return 0;
            await result.InvocationConfiguration.Error.WriteLineAsync($"buildfarm store quarantine-serve: {error}");
            return 1;
        }));
        return command;
    }
}
