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
        var host = new Option<string>("--host") { Description = "Origin host", Required = true };
        var port = new Option<int>("--port") { Description = "sshd port", DefaultValueFactory = _ => 22 };
        var user = new Option<string>("--user") { Description = "Login user", DefaultValueFactory = _ => Environment.UserName };
        var key = new Option<string>("--key") { Description = "Client private key file", Required = true };
        var fingerprint = new Option<string[]>("--host-key-fingerprint") { Description = "Pinned host key, SHA256:base64", Required = true };
        var compression = new Option<TransferCompression>("--compression") { Description = "None, SshZlib or RemoteGzip", DefaultValueFactory = _ => TransferCompression.None };
        var cipher = new Option<string[]>("--cipher")
        {
            Description = "SSH cipher(s) to propose first (default: Origins' default, AES-GCM first); e.g. aes128-ctr for SSH.NET's own default",
        };
        var file = new Argument<string>("REMOTE-FILE") { Description = "File on the origin to stream" };
        var sshCat = new Command("ssh-cat", "Stream a remote file over our SSH transport and print bytes and MB/s")
        {
            host, port, user, key, fingerprint, compression, cipher, file,
        };
        sshCat.SetAction(async (result, cancellationToken) =>
        {
            var endpoint = new OriginConnectionSettings(
                result.GetValue(host)!, result.GetValue(port), result.GetValue(user)!, result.GetValue(key)!, result.GetValue(fingerprint)!)
            {
                Compression = result.GetValue(compression),
                PreferredCiphers = result.GetValue(cipher) is { Length: > 0 } ciphers ? ciphers : OriginConnectionSettings.DefaultCiphers,
            };
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
