using System.CommandLine;

using BuildFarm.Cli.Api;

namespace BuildFarm.Cli.Operator;

/// <summary><c>buildfarm workers drain|pause|resume NAME [--note TEXT]</c>: sends the command through the dispatcher.</summary>
internal static class WorkersCommand
{
    public static Command Create()
    {
        var workers = new Command("workers", "Drain, pause or resume a worker");
        workers.Subcommands.Add(Action("drain", "Take no new builds, finish the running ones, then stop", withNote: true));
        workers.Subcommands.Add(Action("pause", "Take no new builds until resumed (keeps running)", withNote: true));
        workers.Subcommands.Add(Action("resume", "Take builds again after a pause", withNote: false));
        return workers;
    }

    private static Command Action(string verb, string description, bool withNote)
    {
        var name = new Argument<string>("name") { Description = "Worker name, as `buildfarm status` lists it" };
        var note = new Option<string?>("--note") { Description = "Why (shown on the Workers page)" };
        var command = new Command(verb, description) { name };
        var endpoint = DispatcherClient.AddOptions(command);
        if (withNote)
            command.Options.Add(note);
        command.SetAction((result, ct) => CliErrorHandler.RunAsync(result, "workers " + verb, async () =>
        {
            var worker = result.GetValue(name)!;
            using var api = DispatcherClient.Connect(result, endpoint);
            await api.PostAsync($"api/workers/{Uri.EscapeDataString(worker)}/{verb}", new { note = withNote ? result.GetValue(note) : null }, ct);
            // 202: the broker confirmed the command; the worker applies it when it receives it.
            await result.InvocationConfiguration.Output.WriteLineAsync($"{verb} sent to {worker}");
            return 0;
        }));
        return command;
    }
}
