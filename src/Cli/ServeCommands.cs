using System.CommandLine;
using BuildFarm.Dispatcher.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace BuildFarm.Cli;

/// <summary><c>buildfarm serve [--config FILE]</c>: the dispatcher host (API, lifecycle, broker).</summary>
internal static class ServeCommands
{
    public static Command Create(CliGlobals globals)
    {
        _ = globals;
        var config = new Option<string?>("--config") { Description = "JSON config file (sections Dispatcher and Broker); env BUILDFARM_DISPATCHER__Key, BUILDFARM_DISPATCHER__Broker__Key, BUILDFARM_DISPATCHER__Ui__Key override" };
        var serve = new Command("serve", "Run the dispatcher: HTTP API, build lifecycle, broker publishing and events") { config };
        serve.SetAction((result, ct) => CliErrorHandler.RunAsync(result, "serve", async () =>
        {
            var file = result.GetValue(config);
            if (file is not null && !File.Exists(file))
                throw new CliError($"--config {file}: no such file");
            WebApplication app;
            try
            {
                app = DispatcherHost.Build(file);
            }
            catch (InvalidOperationException e)
            {
                throw new CliError(e.Message);
            }

            await using (app)
            {
                await app.StartAsync(ct);
                await app.WaitForShutdownAsync(ct);
            }

            return 0;
        }));
        return serve;
    }
}
