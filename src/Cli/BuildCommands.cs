using System.CommandLine;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Cli.Api;

namespace BuildFarm.Cli;

/// <summary>
/// <c>buildfarm build FILE.drv…</c>: builds the targets and every derivation they need that is not yet in the origin
/// store. The graph runs in the dispatcher (it survives this client); the client prints progress and the log of
/// failing builds to stderr and the targets' output paths to stdout. Exit 0 built, 100 a build failed, 101 a build
/// timed out, 1 anything else — as <c>buildfarm submit</c>.
/// </summary>
internal static class BuildCommands
{
    public static Command Create()
    {
        var files = new Argument<string[]>("drv") { Description = ".drv paths of the origin store (logical, or the file under its root)", Arity = ArgumentArity.OneOrMore };
        var keepGoing = new Option<bool>("--keep-going", "-k") { Description = "After a failure, keep building everything that does not depend on it" };
        var wait = new Option<bool>("--wait-for-capacity") { Description = "Queue builds even when no known worker can run them (else such a derivation fails at once)" };
        var json = new Option<bool>("--json") { Description = "Print the final graph (every node, its state, build and outputs) as JSON on stdout" };
        var priority = new Option<int>("--priority") { Description = "Recorded and shown; orders only the dispatcher's own publishing (higher first), not builds already queued" };
        var timeout = new Option<double>("--timeout") { Description = "Per-build timeout in seconds (0 = none)" };
        var silent = new Option<double>("--max-silent-time") { Description = "Seconds without log output before a build is killed (0 = none)" };
        var trusted = new Option<bool>("--trusted") { Description = "You trust these derivations: their builds may also run on workers without a sandbox (AllowUnsandboxed)" };
        var command = new Command("build", "Build derivations and everything they need on the farm, in dependency order") { files, keepGoing, wait, json, priority, timeout, silent, trusted };
        var endpoint = DispatcherClient.AddOptions(command);
        command.SetAction((result, ct) => CliErrorHandler.RunAsync(result, "build", async () =>
        {
            var targets = result.GetValue(files)!.Select(f => File.Exists(f) ? Path.GetFullPath(f) : f).ToArray();
            using var client = DispatcherClient.Connect(result, endpoint);
            var body = new SubmitGraphBody(targets, result.GetValue(keepGoing), result.GetValue(priority), result.GetValue(timeout), result.GetValue(silent), result.GetValue(wait),
                result.GetValue(trusted));
            return await new GraphProgress(client, result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, result.GetValue(json)).RunAsync(body, ct);
        }));
        return command;
    }
}
