using System.CommandLine;
using BuildFarm.Messaging.Broker;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Keys;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// <c>buildfarm-worker check --config FILE</c>: config valid? keys readable? store and build dir writable? broker
/// reachable? Prints each problem with how to fix it; exit 0 only when there is none.
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var config = WorkerCli.ConfigOption();
        var command = new Command("check", "Check a worker configuration and what it points to, printing how to fix each problem") { config };
        command.SetAction((result, ct) => CheckAsync(result.GetRequiredValue(config), ct));
        return command;
    }

    private static async Task<int> CheckAsync(FileInfo config, CancellationToken cancellationToken)
    {
        WorkerOptions options;
        try
        {
            options = WorkerConfiguration.Load(config.FullName);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or FormatException)
        {
            Console.WriteLine($"FAIL config: {e.Message}");
            Console.WriteLine("     fix: correct the JSON (keys are those of the worker's configuration; see docs)");
            return 1;
        }

        var problems = 0;
        void Report(bool ok, string what, string detail, string fix)
        {
            Console.WriteLine(ok ? $"ok   {what}: {detail}" : $"FAIL {what}: {detail}");
            if (!ok)
            {
                Console.WriteLine($"     fix: {fix}");
                problems++;
            }
        }

        var invalid = WorkerOptionsValidator.Problems(options);
        Report(invalid.Count == 0, "config", invalid.Count == 0 ? config.FullName : string.Join("; ", invalid), "change the keys named above");
        try
        {
            _ = WorkerKeys.Load(options.Keys);
            Report(true, "keys", $"{options.Keys.SigningKeyFile}, {options.Keys.TrustedDispatcherKeysFile}", "");
        }
        catch (InvalidOperationException e)
        {
            Report(false, "keys", e.Message, "point Keys:* at readable files in name:base64 format (nix key generate-secret / convert-secret-to-public)");
        }

        var storeDir = options.Store.Root.Length > 0 ? options.Store.Root + options.Store.StoreDir : options.Store.StoreDir;
        Report(Writable(storeDir, out var why), "store", storeDir + why, $"create {storeDir} and make it writable by this user, or change Store:StoreDir / Store:Root");
        Report(Writable(options.BuildDir, out why), "build dir", options.BuildDir + why, $"make {options.BuildDir} writable by this user, or change BuildDir");
        var sandbox = await Sandbox.SandboxRunner.ProbeAsync(null, options.Store.StoreDir, cancellationToken);
        Report(
            sandbox.Available || options.AllowUnsandboxed,
            "sandbox",
            sandbox.Available ? sandbox.Reason : $"not available ({sandbox.Reason}){(options.AllowUnsandboxed ? "; AllowUnsandboxed is true, so builders run unsandboxed" : "; the worker would refuse builds")}",
            "run the worker as root (or with CAP_SYS_ADMIN), install util-linux and busybox-static, create Store:StoreDir; or set AllowUnsandboxed to true for trusted derivations only");
        if (options.Broker.Validate() is null)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(15));
                await using var connection = await BrokerConnections.ConnectAsync(options.Broker, "buildfarm-worker check", maxAttempts: 2, timeout.Token);
                Report(true, "broker", $"{connection.Endpoint.HostName}:{connection.Endpoint.Port} answers", "");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Report(false, "broker", $"{string.Join(',', options.Broker.Endpoints().Select(u => u.Host + ":" + u.Port))} unreachable: {e.Message}",
                    "start RabbitMQ there, or fix Broker:Uri (user, password, host, port)");
            }
        }

        Console.WriteLine(problems == 0 ? "all checks passed" : $"{problems} problem(s)");
        return problems == 0 ? 0 : 1;
    }

    private static bool Writable(string dir, out string why)
    {
        try
        {
            Directory.CreateDirectory(dir);
            var probe = Path.Combine(dir, $".buildfarm-check-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            why = " is writable";
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $" is not writable: {e.Message}";
            return false;
        }
    }
}
