using System.CommandLine;
using BuildFarm.Store.Nar;

namespace BuildFarm.Cli.Store;

/// <summary><c>buildfarm store dump PATH</c>: the NAR serialisation of PATH on stdout, like <c>nix-store --dump</c>.</summary>
internal static class DumpCommand
{
    public static Command Create(CliGlobals globals)
    {
        var path = new Argument<string>("path") { Description = "A store path (resolved under --root first) or any file system path" };
        var command = new Command("dump", "Write the NAR serialisation of a path to stdout (like nix-store --dump)") { path };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store dump", async () =>
        {
            var physical = CliPaths.ResolveExisting(globals.Layout(result), result.GetRequiredValue(path));
            var (stdout, owned) = await OpenBinaryOutputAsync(result, cancellationToken);
            try
            {
                await NarWriter.WriteAsync(physical, stdout, cancellationToken);
                await stdout.FlushAsync(cancellationToken);
            }
            finally
            {
                if (owned)
                    await stdout.DisposeAsync();
            }

            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The NAR is binary, so it bypasses the text writer: a configured <see cref="StreamWriter"/> (tests) lends its
    /// stream, otherwise the process's raw stdout is used.
    /// </summary>
    private static async Task<(Stream Stream, bool Owned)> OpenBinaryOutputAsync(ParseResult result, CancellationToken cancellationToken)
    {
        if (result.InvocationConfiguration.Output is StreamWriter writer)
        {
            await writer.FlushAsync(cancellationToken);
            return (writer.BaseStream, false);
        }

        return (Console.OpenStandardOutput(), true);
    }
}
