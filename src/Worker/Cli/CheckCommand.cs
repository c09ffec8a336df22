using BuildFarm.Store.Paths;
using System.CommandLine;
using BuildFarm.Messaging.Broker;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Keys;
using BuildFarm.Worker.Sandbox;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// <c>buildfarm-worker check --config FILE [--timeout S] [--ssh]</c>: config valid? keys readable? sandbox possible
/// (or explicitly not wanted)? store and build dir writable? broker reachable? origin keys readable (and, with
/// <c>--ssh</c>, each pinned origin reachable)? Prints each problem with how to fix it; exit 0 only when there is none.
/// Changes nothing except creating missing directories and a probe file it deletes again.
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var config = WorkerCli.ConfigOption();
        var timeout = new Option<int>("--timeout")
        {
            Description = "Seconds to wait for the broker (and the origins with --ssh) before reporting them unreachable",
            DefaultValueFactory = _ => 5,
        };
        var ssh = new Option<bool>("--ssh") { Description = "Also log in to every pinned origin over SSH (host key and client key)" };
        var command = new Command("check", "Check a worker configuration and what it points to, printing how to fix each problem") { config, timeout, ssh };
        command.SetAction((result, ct) => CheckAsync(
            result.GetRequiredValue(config), TimeSpan.FromSeconds(Math.Clamp(result.GetValue(timeout), 1, 600)), result.GetValue(ssh), Console.Out, ct));
        return command;
    }

    public static async Task<int> CheckAsync(FileInfo config, TimeSpan timeout, bool ssh, TextWriter output, CancellationToken cancellationToken)
    {
        var report = new CheckReport(output);
        WorkerOptions options;
        try
        {
            options = WorkerConfiguration.Load(config.FullName);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or FormatException)
        {
            report.Fail("config", e.Message + (e.InnerException is null ? "" : ": " + e.InnerException.Message),
                "correct the JSON (keys are those of docs/configuration.md; BUILDFARM_WORKER__* variables override them)");
            return report.Finish();
        }

        var invalid = WorkerOptionsValidator.Problems(options);
        report.Check(invalid.Count == 0, "config", invalid.Count == 0 ? config.FullName : string.Join("; ", invalid), "change the keys named above");
        try
        {
            _ = WorkerKeys.Load(options.Keys);
            report.Ok("keys", $"{options.Keys.SigningKeyFile}, {options.Keys.TrustedDispatcherKeysFile}");
        }
        catch (InvalidOperationException e)
        {
            report.Fail("keys", e.Message, "point Keys:* at files this user can read, in name:base64 format (buildfarm keys generate, or nix key generate-secret / convert-secret-to-public)");
        }

        var raw = new ConfigurationBuilder().AddWorkerSources(config.FullName).Build();
        OriginChecks.Files(raw, report);
        await CheckSandboxAsync(options, report, cancellationToken);
        if (I386Support.Needed(options.Systems))
        {
            // A warning: derivations for i686-linux with a 64-bit builder still build on such a kernel.
            if (await I386Support.ProblemAsync(cancellationToken) is { } i386)
                report.Warn("systems", $"{I386Support.System} is offered, but {i386}: every 32-bit builder will fail; {I386Support.Fix}");
            else
                report.Ok("systems", $"this kernel runs 32-bit x86 programs ({I386Support.System})");
        }

        var storeDir = options.Store.Root.Length > 0 ? options.Store.Root + options.Store.StoreDir : options.Store.StoreDir;
        report.Check(Writable(storeDir, out var why), "store", storeDir + why, $"create {storeDir} and make it writable by this user, or change Store:StoreDir / Store:Root");
        report.Check(Writable(options.BuildDir, out why), "build dir", options.BuildDir + why, $"make {options.BuildDir} writable by this user, or change BuildDir");
        if (options.Broker.Validate() is null)
            await CheckBrokerAsync(options.Broker, timeout, report, cancellationToken);
        if (ssh)
            await OriginChecks.ReachableAsync(raw, timeout, report, cancellationToken);
        return report.Finish();
    }

    private static async Task CheckSandboxAsync(WorkerOptions options, CheckReport report, CancellationToken cancellationToken)
    {
        var capability = await SandboxRunner.ProbeAsync(SandboxSettings.From(options), options.Store.StoreDir,
            [StoreLayout.Create(options.Store.StoreDir, options.Store.Root).PhysicalStoreDir, options.BuildDir], cancellationToken);
        if (capability.Available)
            report.Ok("sandbox", options.AllowUnsandboxed ? "possible (" + capability.Reason + "), but AllowUnsandboxed is true" : capability.Reason);
        else if (options.AllowUnsandboxed)
            report.Warn("sandbox", $"not possible here ({capability.Reason}); builds run unsandboxed because AllowUnsandboxed is true, and this worker takes only builds submitted as trusted");
        else
            report.Fail("sandbox", capability.Reason,
                "run the worker as root, install bubblewrap, util-linux and busybox-static, allow unprivileged user namespaces (sysctl user.max_user_namespaces > 0); or set \"AllowUnsandboxed\": true for trusted derivations only");
    }

    private static async Task CheckBrokerAsync(BrokerOptions broker, TimeSpan timeout, CheckReport report, CancellationToken cancellationToken)
    {
        var where = string.Join(',', broker.Endpoints().Select(u => u.Host + ":" + u.Port));
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            await using var connection = await BrokerConnections.ConnectAsync(broker, "buildfarm-worker check", maxAttempts: 1, cts.Token);
            report.Ok("broker", $"{connection.Endpoint.HostName}:{connection.Endpoint.Port} answers");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            report.Fail("broker", $"{where} did not answer within {timeout.TotalSeconds:0} s", "start RabbitMQ there, or fix Broker:Uri (host, port); a firewall may drop the connection");
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            report.Fail("broker", $"{where} unreachable: {e.Message}", "start RabbitMQ there, or fix Broker:Uri (user, password, host, port)");
        }
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
