using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Origins;
using BuildFarm.Transfer.Resilience;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// Hidden <c>buildfarm-worker debug pull</c>: the worker's input fetch without a farm (bench/pull/run.sh row 4): one
/// <c>store export --signed PATHS</c> on the origin over our SSH transport, streamed into the same all-or-nothing
/// import the worker runs (signatures by the trusted keys, NAR hashes checked), into a local store at --root.
/// </summary>
internal static class DebugPullCommand
{
    public static Command Create()
    {
        var originOptions = new DebugOriginOptions();
        var remote = new Option<string>("--remote-command") { Description = "buildfarm on the origin with its store flags", DefaultValueFactory = _ => "buildfarm" };
        var storeDir = new Option<string>("--store-dir") { Description = "Logical store directory", DefaultValueFactory = _ => "/nix/store" };
        var root = new Option<string>("--root") { Description = "Physical root of the local store to import into", Required = true };
        var trusted = new Option<string>("--trusted-keys") { Description = "Trusted public keys file (name:base64 per line)", Required = true };
        var paths = new Argument<string[]>("PATHS") { Description = "Store paths to pull", Arity = ArgumentArity.OneOrMore };
        var pull = new Command("pull", "Pull store paths from an origin over our SSH transport into a local store; print bytes and MB/s")
        {
            remote, storeDir, root, trusted, paths,
        };
        originOptions.AddTo(pull);
        pull.SetAction(async (result, cancellationToken) =>
        {
            var endpoint = originOptions.Settings(result, result.GetValue(remote)!);
            try
            {
                var keys = await TrustedKeys.LoadAsync(result.GetValue(trusted)!, cancellationToken);
                var store = await LocalStore.OpenAsync(StoreLayout.Create(result.GetValue(storeDir)!, result.GetValue(root)), null, cancellationToken);
                await using var origin = new OriginClient(endpoint.EnsureValid(), new TransferResilienceOptions { MaxRetryAttempts = 0 });
                await origin.RunAsync("true", cancellationToken); // connect outside the timed part, as the worker's pool is warm
                var clock = Stopwatch.StartNew();
                long bytes = 0;
                var imported = await origin.DownloadAsync(
                    origin.BuildfarmCommand(["store", "export", "--signed", .. result.GetValue(paths)!]),
                    async (stdout, ct) =>
                    {
                        var counting = new Origins.CountingReadStream(stdout);
                        try
                        {
                            return await ArchiveImporter.ImportAsync(store, counting, new ImportOptions(keys, true, StallTimeout: ImportOptions.DefaultStallTimeout), ct);
                        }
                        finally
                        {
                            bytes = counting.Count;
                        }
                    },
                    cancellationToken);
                var seconds = clock.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{imported.Count} paths, {bytes} archive bytes in {seconds:0.000} s: {bytes / seconds / 1e6:0.0} MB/s"));
                return 0;
            }
            catch (Exception e) when (e is InvalidOriginConnectionSettingsException or HostKeyMismatchException or RemoteCommandFailedException
                or TransferInfrastructureException or ArchiveException)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 1;
            }
        });
        return pull;
    }
}
