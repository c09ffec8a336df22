using System.CommandLine;

namespace BuildFarm.Dispatcher.Cli;

internal static class StoreCommands
{
    public static Command Create(CliGlobals globals)
    {
        var store = new Command("store", "Store commands");
        store.Subcommands.Add(Store.DumpCommand.Create(globals));
        store.Subcommands.Add(Store.HashCommand.Create(globals));
        return store;
    }
}
