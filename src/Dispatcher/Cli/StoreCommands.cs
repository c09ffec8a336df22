using System.CommandLine;

namespace BuildFarm.Dispatcher.Cli;

internal static class StoreCommands
{
    public static Command Create(CliGlobals globals)
    {
        _ = globals;
        return new Command("store", "Store commands");
    }
}
