using System.CommandLine;
using BuildFarm.Store.Signing;

namespace BuildFarm.Cli.Store;

/// <summary><c>buildfarm store sign --key-file F PATH…</c>: adds a signature by the secret key in F to each path.</summary>
internal static class SignCommand
{
    public static Command Create(CliGlobals globals)
    {
        var paths = new Argument<string[]>("paths") { Description = "Valid store paths", Arity = ArgumentArity.OneOrMore };
        var keyFile = new Option<string>("--key-file") { Description = "Secret key file (name:base64, as nix key generate-secret writes)", Required = true };
        var command = new Command("sign", "Sign valid store paths with a secret key") { paths, keyFile };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store sign", async () =>
        {
            var file = result.GetRequiredValue(keyFile);
            if (!File.Exists(file))
                throw new CliError($"secret key file '{file}' does not exist");
            var key = await StoreCli.ReadSigningKeyAsync(file, cancellationToken);
            var store = await StoreCli.OpenAsync(globals, result, cancellationToken);
            foreach (var path in StoreCli.ParsePaths(store, result.GetRequiredValue(paths)))
            {
                var info = await store.GetPathInfoAsync(path, cancellationToken);
                await store.AddSignaturesAsync(path, [key.Sign(info.Fingerprint)], cancellationToken);
            }

            return 0;
        }));
        return command;
    }
}
