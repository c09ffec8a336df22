using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Origins;
using BuildFarm.Transfer.Resilience;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// Hidden <c>buildfarm-worker debug ssh-cat</c>: streams a remote file through our SSH exec stream and prints bytes
/// and MB/s (bench/transfer/run.sh compares it with plain <c>ssh cat</c>).
/// </summary>
internal static class DebugSshCatCommand
{
    public static Command Create()
    {
        var originOptions = new DebugOriginOptions();
        var compression = new Option<TransferCompression>("--compression") { Description = "None, SshZlib or RemoteGzip", DefaultValueFactory = _ => TransferCompression.None };
        var file = new Argument<string>("REMOTE-FILE") { Description = "File on the origin to stream" };
        var sshCat = new Command("ssh-cat", "Stream a remote file over our SSH transport and print bytes and MB/s")
        {
            compression, file,
        };
        originOptions.AddTo(sshCat);
        sshCat.SetAction(async (result, cancellationToken) =>
        {
            var endpoint = originOptions.Settings(result) with { Compression = result.GetValue(compression) };
            try
            {
                await using var origin = new OriginClient(endpoint.EnsureValid(), new TransferResilienceOptions { MaxRetryAttempts = 0 });
                await origin.RunAsync("true", cancellationToken); // connect outside the timed part, as ssh's own startup is
                var clock = Stopwatch.StartNew();
                var bytes = await origin.DownloadAsync(
                    "cat " + Transfer.Exec.ShellCommand.Quote(result.GetValue(file)!),
                    async (stdout, ct) =>
                    {
                        var buffer = new byte[128 * 1024];
                        long total = 0;
                        int n;
                        while ((n = await stdout.ReadAsync(buffer, ct)) > 0)
                            total += n;
                        return total;
                    },
                    cancellationToken);
                var seconds = clock.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes in {seconds:0.000} s: {bytes / seconds / 1e6:0.0} MB/s"));
                return 0;
            }
            catch (Exception e) when (e is InvalidOriginConnectionSettingsException or HostKeyMismatchException or RemoteCommandFailedException or TransferInfrastructureException)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 1;
            }
        });
        var debug = new Command("debug", "Diagnostics for developers") { Hidden = true };
        debug.Subcommands.Add(sshCat);
        return debug;
    }
}
