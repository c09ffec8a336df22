using System.CommandLine;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Cli;

/// <summary><c>buildfarm-worker run --config FILE</c>: the agent, until drained (exit 0) or aborted.</summary>
internal static class RunCommand
{
    public const int ConfigError = 2;

    public static Command Create()
    {
        var config = WorkerCli.ConfigOption();
        var command = new Command("run", "Run the worker agent: take builds, heartbeat, drain on SIGTERM (twice: abort)") { config };
        command.SetAction((result, ct) => RunAsync(result.GetRequiredValue(config), ct));
        return command;
    }

    private static async Task<int> RunAsync(FileInfo config, CancellationToken cancellationToken)
    {
        if (!config.Exists)
        {
            await Console.Error.WriteLineAsync($"buildfarm-worker: config file {config.FullName} does not exist");
            return ConfigError;
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddWorkerSources(config.FullName);
        try
        {
            builder.AddWorker();
            using var host = builder.Build();
            Execution.PhaseHold.Configure(host.Services.GetRequiredService<IOptions<WorkerOptions>>().Value.Name);
            await host.RunAsync(cancellationToken);
            return 0;
        }
        catch (OptionsValidationException e)
        {
            await Console.Error.WriteLineAsync($"buildfarm-worker: {config.FullName} is not a valid configuration:");
            foreach (var failure in e.Failures)
                await Console.Error.WriteLineAsync("  - " + failure);
            return ConfigError;
        }
        catch (InvalidOperationException e)
        {
            await Console.Error.WriteLineAsync($"buildfarm-worker: cannot start: {e.Message}");
            return ConfigError;
        }
    }
}
