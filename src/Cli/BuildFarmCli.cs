using System.CommandLine;

namespace BuildFarm.Cli;

/// <summary>The <c>buildfarm</c> command tree: one file per command group registers itself here.</summary>
internal static class BuildFarmCli
{
    public static RootCommand Build()
    {
        var globals = new CliGlobals();
        var root = new RootCommand("BuildFarm: a distributed build farm for Nix and Guix derivations.");
        globals.AddTo(root);
        root.Subcommands.Add(StoreCommands.Create(globals));
        root.Subcommands.Add(DrvCommands.Create(globals));
        root.Subcommands.Add(KeysCommands.Create(globals));
        root.Subcommands.Add(Broker.BrokerCommands.Create());
        root.Subcommands.Add(ServeCommands.Create(globals));
        root.Subcommands.Add(OriginServe.OriginServeCommand.Create(globals, static arguments => Build().Parse(arguments)));
        root.Subcommands.Add(SubmitCommands.Create(globals));
        root.Subcommands.Add(BuildCommands.Create());
        root.Subcommands.Add(Operator.StatusCommand.Create());
        root.Subcommands.Add(Operator.LogCommand.Create());
        root.Subcommands.Add(Operator.WorkersCommand.Create());
        root.Subcommands.Add(Operator.ProbeCommand.Create());
        root.Subcommands.Add(Database.DbCommands.Create());
        root.Subcommands.Add(Hook.HookCommands.Nix());
        root.Subcommands.Add(Hook.HookCommands.Guix());
        return root;
    }
}
