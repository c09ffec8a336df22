using System.CommandLine;
using BuildFarm.Cli;

namespace BuildFarm.CliHost;

/// <summary>
/// Decides, before any .NET runtime starts, whether a command line is one this native front answers itself; every
/// other one (including every malformed one, <c>--help</c> and response files it did not resolve to a command it
/// serves) goes to the managed CLI unchanged, which parses it again and gives its own answer.
/// </summary>
/// <remarks>
/// The front parses with a <see cref="RootCommand"/> that holds the managed CLI's global options and its
/// <c>store hash</c> command (the same source files, the same System.CommandLine), and runs the command only when the
/// parse resolved to that command's own action with no error. So a command line the front runs is one the managed CLI
/// would have run with the same code, and the answer (stdout, stderr, exit code) is the same by construction.
/// </remarks>
internal static class FrontCommand
{
    public static int Run(string[] args)
    {
        // Most command lines are not `store hash`: hand them over without building a command tree.
        if (!MayBeServed(args))
            return ManagedCli.Exec(args);
        var globals = new CliGlobals();
        var root = new RootCommand("BuildFarm: a distributed build farm for Nix and Guix derivations.");
        globals.AddTo(root);
        var hash = Cli.Store.HashCommand.Create(globals);
        root.Subcommands.Add(new Command("store", "Store commands") { hash });
        var result = root.Parse(args);
        if (result.Errors.Count > 0 || !ReferenceEquals(result.Action, hash.Action))
            return ManagedCli.Exec(args);
        return result.InvokeAsync().GetAwaiter().GetResult();
    }

    /// <summary>
    /// False only when the command line cannot be <c>store hash</c>: neither word appears as an argument and no
    /// response file (<c>@FILE</c>) could supply them.
    /// </summary>
    internal static bool MayBeServed(IReadOnlyList<string> args)
    {
        bool store = false, hash = false;
        foreach (var arg in args)
        {
            if (arg.StartsWith('@'))
                return true;
            store |= arg == "store";
            hash |= arg == "hash";
        }

        return store && hash;
    }
}
