using System.CommandLine;
using BuildFarm.Store.Local;

namespace BuildFarm.Cli.Store;

/// <summary><c>buildfarm store closure PATH…</c>: every path the given paths reference, transitively, sorted.</summary>
internal static class ClosureCommand
{
    public static Command Create(CliGlobals globals)
    {
        var paths = new Argument<string[]>("paths") { Description = "Valid store paths", Arity = ArgumentArity.OneOrMore };
        var command = new Command("closure", "Print the closure of paths (themselves and everything they reference), sorted") { paths };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store closure", async () =>
        {
            var store = await StoreCli.OpenAnyAsync(globals, result, cancellationToken);
            var closure = await store.QueryClosureAsync(StoreCli.ParsePaths(store, result.GetRequiredValue(paths)), cancellationToken);
            foreach (var path in closure)
                await result.InvocationConfiguration.Output.WriteLineAsync(path.FullPath);
            return 0;
        }));
        return command;
    }
}
