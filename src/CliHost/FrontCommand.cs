using System.CommandLine;
using BuildFarm.Cli;

namespace BuildFarm.CliHost;

/// <summary>
/// Decides whether a command line is one this native front answers itself; every other one (including every malformed
/// one, <c>--help</c> and response files it did not resolve to a command it serves) goes to the managed CLI unchanged,
/// which parses it again and gives its own answer, as does an <c>origin-serve</c> whose request is not an export. Lines
/// that cannot be <c>store hash</c>, <c>store export</c> or <c>origin-serve</c> at all never get here:
/// front-main.c hands them over before the NativeAOT runtime starts.
/// </summary>
/// <remarks>
/// The front parses with a <see cref="RootCommand"/> that holds the managed CLI's global options and its
/// <c>store hash</c>, <c>store export</c> and <c>origin-serve</c> commands (the same source files, the same System.CommandLine), and runs a command only when the
/// parse resolved to that command's own action with no error. So a command line the front runs is one the managed CLI
/// would have run with the same code, and the answer (stdout, stderr, exit code) is the same by construction.
/// </remarks>
internal static class FrontCommand
{
    public static int Run(string[] args)
    {
        var globals = new CliGlobals();
        var root = new RootCommand("BuildFarm: a distributed build farm for Nix and Guix derivations.");
        globals.AddTo(root);
        var hash = Cli.Store.HashCommand.Create(globals);
        var export = Cli.Store.ExportCommand.Create(globals);
        root.Subcommands.Add(new Command("store", "Store commands") { hash, export });
        // An origin whose workers' key is forced to `origin-serve`: an input pull's export request runs here, parsed
        // with this root (so it can only ever resolve to the commands above); every other request (uploads,
        // --version, refusals) goes to the managed CLI, which reads SSH_ORIGINAL_COMMAND again.
        var originServe = Cli.OriginServe.OriginServeCommand.Create(globals, arguments => root.Parse(arguments));
        root.Subcommands.Add(originServe);
        var result = root.Parse(args);
        if (result.Errors.Count > 0)
            return ManagedCli.Exec(args);
        if (ReferenceEquals(result.Action, originServe.Action) ? !IsExportRequest(globals, result)
            : !(ReferenceEquals(result.Action, hash.Action) || ReferenceEquals(result.Action, export.Action)))
            return ManagedCli.Exec(args);
        return result.InvokeAsync().GetAwaiter().GetResult();
    }

    /// <summary>Whether <c>origin-serve</c> would let the worker's request through as a <c>store export</c>.</summary>
    private static bool IsExportRequest(CliGlobals globals, ParseResult result)
    {
        try
        {
            var store = new Cli.OriginServe.OriginServeStore(globals.Layout(result), globals.IsNix(result), null);
            return Cli.OriginServe.OriginServeRequest.TryParse(Environment.GetEnvironmentVariable("SSH_ORIGINAL_COMMAND"), store, out var request, out _)
                && request!.IsExport;
        }
        catch (Exception e) when (e is Cli.CliError or ArgumentException or FormatException)
        {
            // A store option the managed CLI refuses: it gives its own answer.
            return false;
        }
    }
}
