using System.CommandLine;
using BuildFarm.Dispatcher.Api;

using BuildFarm.Cli.Api;

namespace BuildFarm.Cli.Operator;

/// <summary>
/// <c>buildfarm log BUILD [--follow]</c>: prints the stored log of a build; with <c>--follow</c> keeps streaming until
/// the build finishes and exits like <c>submit</c> (0 succeeded, 100 build failure, 101 timeout, 1 otherwise).
/// </summary>
internal static class LogCommand
{
    private const int PageSize = 1000;

    public static Command Create()
    {
        var build = new Argument<string>("build") { Description = "Build id (as shown by `buildfarm status` or the UI)" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the build finishes" };
        var command = new Command("log", "Print a build's log (--follow streams it while the build runs)") { build, follow };
        var endpoint = DispatcherClient.AddOptions(command);
        command.SetAction((result, ct) => CliErrorHandler.RunAsync(result, "log", async () =>
        {
            if (!Guid.TryParse(result.GetValue(build), out var id))
                throw new CliError($"'{result.GetValue(build)}' is not a build id (a GUID, as `buildfarm status` prints)");
            using var api = DispatcherClient.Connect(result, endpoint);
            var output = result.InvocationConfiguration.Output;
            long cursor = 0;
            while (true)
            {
                var log = await api.GetAsync<LogView>(TextTable.Invariant($"api/builds/{id}/log?after={cursor}"), ct);
                foreach (var chunk in log.Chunks)
                    await output.WriteAsync(chunk.Text);
                cursor = log.Next;
                if (log.Chunks.Count == PageSize)
                    continue;
                var finished = log.State is "succeeded" or "failed" or "cancelled";
                if (!result.GetValue(follow))
                    return 0;
                if (finished)
                {
                    // The state was read with the last page: anything logged before it finished is on that page or before.
                    await output.FlushAsync(ct);
                    var view = await api.GetAsync<BuildView>($"api/builds/{id}", ct);
                    return view.State switch
                    {
                        "succeeded" => 0,
                        "failed" => view.FailureKind switch { "BuildFailure" => 100, "Timeout" => 101, _ => 1 },
                        _ => 1,
                    };
                }

                await output.FlushAsync(ct);
                await Task.Delay(TimeSpan.FromMilliseconds(300), ct);
            }
        }));
        return command;
    }
}
