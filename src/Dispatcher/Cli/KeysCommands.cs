using System.CommandLine;

namespace BuildFarm.Dispatcher.Cli;

internal static class KeysCommands
{
    public static Command Create(CliGlobals globals)
    {
        _ = globals;
        return new Command("keys", "Keys commands");
    }
}
