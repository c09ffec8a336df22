using System.CommandLine;

namespace BuildFarm.Cli;

internal static class KeysCommands
{
    public static Command Create(CliGlobals globals)
    {
        _ = globals;
        var keys = new Command("keys", "Ed25519 signing keys in Nix's name:base64 format");
        keys.Subcommands.Add(Keys.GenerateKeyCommand.Create());
        keys.Subcommands.Add(Keys.PublicKeyCommand.Create());
        return keys;
    }
}
