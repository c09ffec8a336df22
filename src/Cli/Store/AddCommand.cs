using System.CommandLine;

namespace BuildFarm.Cli.Store;

/// <summary><c>buildfarm store add PATH</c>: copies PATH into the store like <c>nix-store --add</c>, prints the store path.</summary>
internal static class AddCommand
{
    public static Command Create(CliGlobals globals)
    {
        var path = new Argument<string>("path") { Description = "A file, directory or symlink to copy into the store" };
        var command = new Command("add", "Add a path to the store as a source path (like nix-store --add)") { path };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store add", async () =>
        {
            var store = await StoreCli.OpenAsync(globals, result, cancellationToken);
            var added = await store.AddPathAsync(result.GetRequiredValue(path), cancellationToken);
            await result.InvocationConfiguration.Output.WriteLineAsync(added.FullPath);
            return 0;
        }));
        return command;
    }
}
