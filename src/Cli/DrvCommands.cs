using System.CommandLine;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;

namespace BuildFarm.Cli;

/// <summary>
/// <c>buildfarm drv show|outputs|path|add</c>: inspect <c>.drv</c> files and write derivations from JSON specs.
/// Input derivations are read from the physical store and, when absent there, from their logical path.
/// </summary>
internal static class DrvCommands
{
    public static Command Create(CliGlobals globals)
    {
        var drv = new Command("drv", "Inspect .drv files and add derivations written as JSON specs");
        drv.Subcommands.Add(Show(globals));
        drv.Subcommands.Add(Outputs(globals));
        drv.Subcommands.Add(PathCommand(globals));
        drv.Subcommands.Add(Add(globals));
        return drv;
    }

    private static Command Show(CliGlobals globals)
    {
        var file = new Argument<string>("FILE.drv") { Description = "A .drv file" };
        var command = new Command("show", "Print a .drv as JSON, like `nix show-derivation`") { file };
        command.SetAction((result, ct) => RunAsync(result, command.Name, async output =>
        {
            var layout = globals.Layout(result);
            var parsed = await DerivationFiles.ReadAsync(layout.StoreDir, result.GetValue(file)!, ct);
            await output.WriteLineAsync(DerivationJson.Serialize(DerivationPaths.DrvPath(layout.StoreDir, parsed), parsed));
        }));
        return command;
    }

    private static Command Outputs(CliGlobals globals)
    {
        var file = new Argument<string>("FILE.drv") { Description = "A .drv file" };
        var command = new Command("outputs", "Print `id path` per output, after checking the paths against their recomputation") { file };
        command.SetAction((result, ct) => RunAsync(result, command.Name, async output =>
        {
            var layout = globals.Layout(result);
            var parsed = await DerivationFiles.ReadAsync(layout.StoreDir, result.GetValue(file)!, ct);
            var hasher = new DerivationHasher(layout.StoreDir, DerivationFiles.StoreLoader(layout));
            var computed = await DerivationPaths.FillOutputPathsAsync(parsed, hasher, ct);
            foreach (var (id, o) in parsed.Outputs)
            {
                var expected = computed.Outputs[id].Path;
                if (o.Path != expected)
                    throw new CliError($"{result.GetValue(file)}: output '{id}' is recorded as {o.Path} but its derivation gives {expected}");
                await output.WriteLineAsync($"{id} {o.Path}");
            }
        }));
        return command;
    }

    private static Command PathCommand(CliGlobals globals)
    {
        var file = new Argument<string>("FILE.drv") { Description = "A .drv file" };
        var command = new Command("path", "Print the store path the .drv file has (or would have) in the store") { file };
        command.SetAction((result, ct) => RunAsync(result, command.Name, async output =>
        {
            var layout = globals.Layout(result);
            var parsed = await DerivationFiles.ReadAsync(layout.StoreDir, result.GetValue(file)!, ct);
            await output.WriteLineAsync(DerivationPaths.DrvPath(layout.StoreDir, parsed).FullPath);
        }));
        return command;
    }

    private static Command Add(CliGlobals globals)
    {
        var file = new Argument<string>("SPEC.json") { Description = "A derivation spec (docs/derivation-spec.md)" };
        var command = new Command("add", "Write the .drv of a JSON spec (and of the specs it uses) into the store; print its path") { file };
        command.SetAction((result, ct) => RunAsync(result, command.Name, async output =>
        {
            var layout = globals.Layout(result);
            var spec = await DerivationSpecReader.LoadAsync(result.GetValue(file)!, ct);
            var compiler = new DerivationSpecCompiler(layout.StoreDir, DerivationFiles.StoreLoader(layout));
            var top = await compiler.CompileAsync(spec, ct);
            var store = await LocalStore.OpenAsync(layout, null, ct);
            await new DrvStoreWriter(store).WriteAsync(compiler.Compiled, ct);
            await output.WriteLineAsync(top.DrvPath.FullPath);
        }));
        return command;
    }

    /// <summary>Runs a command body through the shared handler: user-facing failures go to stderr, exit code 1.</summary>
    private static Task<int> RunAsync(ParseResult result, string name, Func<TextWriter, Task> body) =>
        CliErrorHandler.RunAsync(result, "drv " + name, async () =>
        {
            await body(result.InvocationConfiguration.Output);
            return 0;
        });
}
