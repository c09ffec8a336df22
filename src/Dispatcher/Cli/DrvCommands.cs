using System.CommandLine;

namespace BuildFarm.Dispatcher.Cli;

internal static class DrvCommands
{
    public static Command Create(CliGlobals globals)
    {
        _ = globals;
        return new Command("drv", "Drv commands");
    }
}
