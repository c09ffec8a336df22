using System.CommandLine;

namespace BuildFarm.Cli;

internal static class StoreCommands
{
    public static Command Create(CliGlobals globals)
    {
        var store = new Command("store", "Store commands");
        store.Subcommands.Add(Store.DumpCommand.Create(globals));
        store.Subcommands.Add(Store.HashCommand.Create(globals));
        store.Subcommands.Add(Store.AddCommand.Create(globals));
        store.Subcommands.Add(Store.InfoCommand.Create(globals));
        store.Subcommands.Add(Store.ExportCommand.Create(globals));
        store.Subcommands.Add(Store.ImportCommand.Create(globals));
        store.Subcommands.Add(Store.SignCommand.Create(globals));
        store.Subcommands.Add(Store.VerifyCommand.Create(globals));
        store.Subcommands.Add(Store.ClosureCommand.Create(globals));
        store.Subcommands.Add(Store.GcCommand.Create(globals));
        store.Subcommands.Add(Store.QuarantinePutCommand.Create(globals));
        store.Subcommands.Add(Store.QuarantineServeCommand.Create(globals));
        return store;
    }
}
